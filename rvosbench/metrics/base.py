"""The evaluator contract (detectron2-style) every protocol implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
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

    # -- sharding: score disjoint groups of videos in separate processes, then combine ------------
    def state(self) -> Any:
        """Picklable summary of everything processed so far (after finishing any buffered video).

        Evaluators that support it let ``rvosbench eval`` score groups of whole videos in parallel
        processes: each worker processes its videos and returns ``state()``; the parent calls
        :meth:`merge` with the states in sample order and then :meth:`evaluate`, which gives the same
        result as one process. The default says the evaluator cannot be sharded.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be sharded across processes")

    def merge(self, states: Iterable[Any]) -> None:
        """Add the :meth:`state` of other evaluators of the same protocol (in sample order)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be sharded across processes")
