"""Statistics for comparing models: bootstrap confidence intervals and a paired test, over videos.

Why over videos: frames and expressions of one video are strongly correlated (same scene, same
objects), so resampling them independently would give intervals that are far too narrow. The unit of
resampling and of pairing is therefore the video; per-sample records are first averaged per video
(:func:`per_video_values`, :func:`align_by_video`).

The small stable API the reports import: :func:`bootstrap_ci`, :func:`paired_test`,
:func:`per_video_values`, :func:`align_by_video`.
"""
from __future__ import annotations

import inspect
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

#: scipy >= 1.15 names the generator argument ``rng``; older releases call it ``random_state``.
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


def bootstrap_ci(values: Sequence[float] | np.ndarray, n_boot: int = 10000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the mean of per-video ``values`` by the percentile bootstrap.

    Uses :func:`scipy.stats.bootstrap` with ``method='percentile'``: unlike BCa it stays defined when
    every value is equal (a perfect model scores 1.0 on every video) or when there are very few
    videos, which happens on fixtures and small splits. NaNs are dropped. Deterministic for a seed.

    Returns ``(low, high)``; with a single value both ends equal that value.
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[~np.isnan(data)]
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one non-NaN value")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if data.size == 1 or np.all(data == data[0]):
        return float(data[0]), float(data[0])
    result = stats.bootstrap((data,), np.mean, n_resamples=int(n_boot), confidence_level=level,
                             method="percentile", vectorized=True,
                             **{_RNG_KEYWORD: np.random.default_rng(seed)})
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test on aligned per-video values ``a`` vs ``b``.

    The signed-rank test makes no normality assumption (per-video J&F differences are skewed and
    bounded). Zero differences follow scipy's default ``zero_method='wilcox'`` (dropped). When every
    difference is zero the two models are indistinguishable and the p-value is 1.0.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired_test needs aligned values, got {x.size} and {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if x.size == 0:
        raise ValueError("paired_test needs at least one aligned pair")
    if np.all(x == y):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy warns about small samples; p is still valid
        return float(stats.wilcoxon(x, y).pvalue)


def per_video_values(records: Iterable[Mapping[str, Any]], metric: str) -> dict[str, float]:
    """Mean of ``metric`` per ``video_id`` over per-sample records (records without it are skipped)."""
    sums: dict[str, list[float]] = defaultdict(list)
    for record in records:
        value = record.get(metric)
        if value is not None:
            sums[str(record["video_id"])].append(float(value))
    return {video: float(np.mean(values)) for video, values in sums.items()}


def align_by_video(records_a: Iterable[Mapping[str, Any]], records_b: Iterable[Mapping[str, Any]],
                   metric: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-video means of ``metric`` for two record sets, restricted to the videos both contain.

    Returns ``(a, b, video_ids)`` sorted by video id, ready for :func:`paired_test`.
    """
    va, vb = per_video_values(records_a, metric), per_video_values(records_b, metric)
    videos = sorted(set(va) & set(vb))
    return (np.array([va[v] for v in videos]), np.array([vb[v] for v in videos]), videos)
