"""Helpers shared by the protocols: which frames are scored, prediction checks, mergeable row lists."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from rvosbench.core.errors import PredictionError
from rvosbench.core.types import Prediction, Sample
from rvosbench.metrics.base import Evaluator


def annotated_indices(sample: Sample) -> list[int]:
    """Indices of the frames that have ground truth (the only frames any protocol scores)."""
    return [i for i, annotated in enumerate(sample.annotated) if annotated]


def check_prediction(sample: Sample, prediction: Prediction) -> None:
    """Raise a one-line PredictionError when the masks do not cover the sample at its original size."""
    expected = (sample.num_frames, *tuple(sample.orig_size))
    if tuple(prediction.masks.shape) != expected:
        raise PredictionError(
            f"prediction masks have shape {tuple(prediction.masks.shape)}, expected {expected} "
            "(frames, height, width at the original size)",
            where=sample.uid, hint="predict every listed frame and resize masks back to the original size")


def mean(values: Iterable[float]) -> float:
    """Plain mean of a possibly empty sequence (NaN when empty)."""
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


class RowEvaluator(Evaluator):
    """An evaluator whose whole state is a list of rows, so shards merge by concatenation."""

    def reset(self) -> None:
        self._rows: list[dict[str, Any]] = []

    def __init__(self) -> None:
        self.reset()

    def state(self) -> Any:
        return list(self._rows)

    def merge(self, states: Iterable[Any]) -> None:
        for rows in states:
            self._rows.extend(rows)
