"""Statistics for comparing models over videos: bootstrap confidence intervals and a paired test.

Why over videos: the frames and expressions of one video share the scene and its objects, so they are
not independent samples; resampling them one by one would give intervals far too narrow. The unit of
resampling and of pairing is the video; per-sample records are first averaged per video.

Shared by metrics (evaluation summaries) and report (tables and plots), hence in core.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
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


def per_video_values(records: Iterable[Mapping[str, Any]], metric: str) -> dict[str, float]:
    """Mean of ``metric`` per ``video_id`` over per-sample records (records without it are skipped)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for record in records:
        value = record.get(metric)
        if value is not None:
            groups[str(record["video_id"])].append(float(value))
    return {video: float(np.mean(values)) for video, values in groups.items()}


def align_by_video(records_a: Iterable[Mapping[str, Any]], records_b: Iterable[Mapping[str, Any]],
                   metric: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-video means of ``metric`` for two record sets on the videos both contain, sorted by id."""
    va, vb = per_video_values(records_a, metric), per_video_values(records_b, metric)
    videos = sorted(set(va) & set(vb))
    return np.array([va[v] for v in videos]), np.array([vb[v] for v in videos]), videos
