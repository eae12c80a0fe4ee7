"""The Benchmark contract every dataset loader implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from rvosbench.core.types import Sample


class Benchmark(ABC):
    """A registered benchmark split: yields :class:`Sample` objects in a stable order.

    Subclasses set ``splits``, ``protocol`` (a registered evaluator name) and ``metrics`` (the metric
    keys that protocol reports, headline first), and implement :meth:`validate` and :meth:`samples`.
    Construction must be cheap and must not read every frame: validation and indexing read the
    annotation files only.
    """

    name: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ()
    protocol: ClassVar[str] = ""
    metrics: ClassVar[tuple[str, ...]] = ()
    has_ground_truth: ClassVar[dict[str, bool]] = {}

    def __init__(self, root: str | Path, split: str, **options: Any):
        self.root = Path(root)
        self.split = split
        self.options = options

    @abstractmethod
    def validate(self) -> None:
        """Check the folder layout and annotation files; raise DataError naming file/key/line."""

    @abstractmethod
    def samples(self) -> Iterator[Sample]:
        """Yield every (video, expression) sample of the split, ordered by video then expression."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Content hash that changes when any annotation, expression or the split membership changes."""

    def __len__(self) -> int:
        return sum(1 for _ in self.samples())
