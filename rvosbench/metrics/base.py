"""The evaluator contract (detectron2-style) every protocol implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rvosbench.core.types import Prediction, Sample


class Evaluator(ABC):
    """Streams predictions: ``reset()``, ``process(sample, prediction)`` per sample, ``evaluate()``.

    Nothing per-frame is kept after ``process`` except what the protocol must hold (e.g. Ref-DAVIS
    buffers one video's objects until the video changes). ``evaluate()`` returns
    ``{'metrics': {name: float}, 'records': [per-sample dict, ...], 'tables': {name: list[dict]}}``;
    records start with ``Sample.record_fields()`` and carry the per-sample metric values, so reports can
    recompute every table number from them. ``metric_version`` goes into the result-store key.
    """

    metric_version: str = "1"

    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def process(self, sample: Sample, prediction: Prediction) -> dict[str, Any] | None:
        """Score one sample; returns its record when it can be scored immediately."""

    @abstractmethod
    def evaluate(self) -> dict[str, Any]: ...
