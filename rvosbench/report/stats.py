"""The statistics a report prints: per-video scores, bootstrap CIs over videos, paired Wilcoxon tests.

The unit of resampling is the **video**, not the expression: expressions of one video share frames and
objects, so they are not independent. A video's score is the mean of its expressions' values (and, with
several seeds, the mean of that over seeds, so that seed noise does not count as a second sample).

The interval and the test themselves are :mod:`rvosbench.core.stats` (shared with metrics); this module
arranges the stored records for them.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rvosbench.core.stats import CONFIDENCE, bootstrap_ci, paired_test



def per_video(records: pd.DataFrame, column: str) -> pd.Series:
    """Per-video score: mean over each video's expressions, then over seeds; indexed by video_id."""
    values = records[["seed", "video_id", column]].dropna()
    by_seed = values.groupby(["seed", "video_id"], sort=True)[column].mean()
    return by_seed.groupby(level="video_id").mean()


@dataclass(frozen=True)
class Comparison:
    """A variant's per-video scores against the baseline's, on the videos both have."""

    n_videos: int
    mean: float
    ci: tuple[float, float]
    delta_ci: tuple[float, float]
    p_value: float


def compare(variant: pd.Series, baseline: pd.Series | None, confidence: float = CONFIDENCE) -> Comparison:
    """CI of the variant's per-video mean; paired Δ CI and Wilcoxon p against ``baseline`` when given."""
    ci = bootstrap_ci(variant.to_numpy(), confidence)
    delta_ci, p_value = (float("nan"), float("nan")), float("nan")
    if baseline is not None:
        common = variant.index.intersection(baseline.index)
        if len(common):
            a, b = variant.loc[common].to_numpy(), baseline.loc[common].to_numpy()
            delta_ci = bootstrap_ci(a - b, confidence)
            p_value = paired_test(a, b)
    return Comparison(len(variant), float(variant.mean()) if len(variant) else float("nan"), ci, delta_ci, p_value)
