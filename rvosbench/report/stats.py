"""The statistics a report prints: per-video scores, bootstrap CIs over videos, paired Wilcoxon tests.

The unit of resampling is the **video**, not the expression: expressions of one video share frames and
objects, so they are not independent. A video's score is the mean of its expressions' values (and, with
several seeds, the mean of that over seeds, so that seed noise does not count as a second sample).

These wrap scipy.stats. ``rvosbench.metrics.stats`` offers similar helpers for the metrics side, but the
report layer may import only core, so the small wrappers live here (noted for de-duplication).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
N_RESAMPLES = 9999
SEED = 0  # fixed, so the same store always prints the same intervals


def per_video(records: pd.DataFrame, column: str) -> pd.Series:
    """Per-video score: mean over each video's expressions, then over seeds; indexed by video_id."""
    values = records[["seed", "video_id", column]].dropna()
    by_seed = values.groupby(["seed", "video_id"], sort=True)[column].mean()
    return by_seed.groupby(level="video_id").mean()


def bootstrap_ci(values: np.ndarray, confidence: float = CONFIDENCE,
                 n_resamples: int = N_RESAMPLES) -> tuple[float, float]:
    """Bootstrap CI of the mean of ``values`` (one value per video).

    BCa (scipy's default, second-order accurate); with fewer than 3 distinct values BCa's acceleration
    is undefined, so the interval collapses to the observed range's percentile bootstrap, and a single
    or constant value gives ``(v, v)``.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan"), float("nan")
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    method = "BCa" if np.unique(values).size >= 3 else "percentile"
    result = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                             method=method, vectorized=True, rng=np.random.default_rng(SEED))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def wilcoxon_p(variant: np.ndarray, baseline: np.ndarray) -> float:
    """Two-sided paired Wilcoxon signed-rank p-value (scipy: exact for small n without ties).

    Zero differences are dropped (Wilcoxon's original rule); when every difference is zero the variants
    are indistinguishable and p = 1.
    """
    diff = np.asarray(variant, dtype=float) - np.asarray(baseline, dtype=float)
    if diff.size == 0:
        return float("nan")
    if np.all(diff == 0):
        return 1.0
    return float(stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)


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
            p_value = wilcoxon_p(a, b)
    return Comparison(len(variant), float(variant.mean()) if len(variant) else float("nan"), ci, delta_ci, p_value)
