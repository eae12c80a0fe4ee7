"""Statistics for comparing models over videos: bootstrap confidence intervals and a paired test.

Why over videos: the frames and expressions of one video share the scene and its objects, so they are
not independent samples; resampling them one by one would give intervals far too narrow. The unit of
resampling and of pairing is the video; per-sample records are first averaged per video.

The report arranges stored per-sample records with :func:`per_video` and compares variants with
:func:`compare`; kept in core (one module for every statistic) so that any package can use them.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
N_RESAMPLES = 9999
SEED = 0  # fixed, so the same store always prints the same intervals

ArrayLike = Sequence[float] | np.ndarray


def bootstrap_ci(values: ArrayLike, level: float = CONFIDENCE, n_boot: int = N_RESAMPLES,
                 seed: int = SEED) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean of per-video ``values`` (scipy.stats.bootstrap).

    BCa (second-order accurate) when there are at least 3 distinct values; with fewer its acceleration
    is undefined, so the percentile bootstrap is used. NaNs are dropped; a constant or single value
    gives ``(v, v)``; no values give ``(nan, nan)``. Deterministic for a seed.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[~np.isnan(data)]
    if data.size == 0:
        return float("nan"), float("nan")
    if np.ptp(data) == 0:
        return float(data[0]), float(data[0])
    method = "BCa" if np.unique(data).size >= 3 else "percentile"
    result = stats.bootstrap((data,), np.mean, n_resamples=int(n_boot), confidence_level=level, method=method,
                             vectorized=True, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_test(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test on aligned per-video values ``a`` vs ``b``.

    No normality assumption (per-video J&F differences are bounded and skewed); scipy gives the exact
    distribution for small samples without ties. Zero differences are dropped (Wilcoxon's rule);
    when every difference is zero the models are indistinguishable and p = 1. No pairs give NaN.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired_test needs aligned values, got {x.size} and {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if x.size == 0:
        return float("nan")
    if np.all(x == y):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small-sample notice; the p-value is still valid
        return float(stats.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided").pvalue)


def per_video(records: pd.DataFrame | Iterable[Mapping[str, Any]], column: str) -> pd.Series:
    """Per-video score: mean over each video's expressions, then over seeds; indexed by ``video_id``.

    Averaging seeds per video first keeps seed noise from counting as a second sample of the video.
    Records without a ``seed`` are one seed; records without ``column`` are skipped.
    """
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if frame.empty or column not in frame.columns:
        return pd.Series(dtype=float, name=column)
    return per_seed_video(frame, column).mean(axis=0).rename(column)  # NaN: a seed without that video


def per_seed_video(records: pd.DataFrame, column: str) -> pd.DataFrame:
    """Seed × video table of scores (mean over each video's expressions within a seed)."""
    frame = records.assign(seed=records["seed"] if "seed" in records.columns else 0)
    values = frame[["seed", "video_id", column]].dropna()
    return values.groupby(["seed", "video_id"], sort=True)[column].mean().unstack("video_id")


def seed_video_delta_ci(variant: pd.DataFrame, baseline: pd.DataFrame, level: float = CONFIDENCE,
                        n_boot: int = N_RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """CI of the mean difference ``variant − baseline`` when the training seeds vary as well as the videos.

    Why: :func:`per_video` averages seeds before :func:`compare` resamples videos, so that interval holds
    for these trainings only. On synth the seed-to-seed spread can exceed an effect (one run learns
    relation expressions, another does not), and a claim about a variant is a claim about its runs.
    Each replicate resamples the videos (the same ones for both: paired) and, independently per side,
    the seeds (a training run is the unit of seed noise; runs of two variants are not paired even with
    one seed number, since their initial weights differ where their modules do), then takes the
    difference of the two resampled seed × video means. Percentile interval: with three seeds a side
    the seed level has few distinct resamples, so BCa's corrections are not defined. Inputs are
    :func:`per_seed_video` tables; only videos scored under every seed of both sides count.
    """
    videos = [v for v in variant.columns.intersection(baseline.columns)
              if not variant[v].isna().any() and not baseline[v].isna().any()]
    if not videos:
        return float("nan"), float("nan")
    a, b = variant[videos].to_numpy(dtype=float), baseline[videos].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    n_videos = len(videos)
    counts = np.stack([np.bincount(rng.integers(0, n_videos, n_videos), minlength=n_videos)
                       for _ in range(int(n_boot))]).astype(float) / n_videos   # video weights per replicate
    deltas = []
    for table, sign in ((a, 1.0), (b, -1.0)):
        per_seed = counts @ table.T                                             # replicate × seed: mean over drawn videos
        draws = rng.integers(0, table.shape[0], (int(n_boot), table.shape[0]))
        deltas.append(sign * np.take_along_axis(per_seed, draws, axis=1).mean(axis=1))
    low, high = np.percentile(deltas[0] + deltas[1], [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def align(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Two per-video series on the videos both have, sorted by id (what a paired comparison needs)."""
    videos = sorted(a.index.intersection(b.index))
    return a.loc[videos].to_numpy(dtype=float), b.loc[videos].to_numpy(dtype=float), [str(v) for v in videos]


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
        a, b, videos = align(variant, baseline)
        if videos:
            delta_ci = bootstrap_ci(a - b, confidence)
            p_value = paired_test(a, b)
    return Comparison(len(variant), float(variant.mean()) if len(variant) else float("nan"), ci, delta_ci, p_value)
