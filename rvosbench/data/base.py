"""The Benchmark contract every dataset loader implements, and what all loaders share.

A loader parses annotation files once (lazily, on first use) into a list of :class:`Sample` objects that
decode frames and masks on demand. What is common lives here: text normalisation, root resolution,
count checks against the released datasets, per-split statistics and the content fingerprint.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rvosbench.core.errors import DataError, ConfigError
from rvosbench.core.hashing import canonical_json
from rvosbench.core.locate import REPO_ROOT
from rvosbench.core.types import Sample


class DatasetCountWarning(UserWarning):
    """A copy of a dataset holds a different number of videos/expressions than the released one."""


def normalize_text(text: str) -> str:
    """Lower-case and collapse whitespace, as every rival does before tokenising (rivals.md §1.1)."""
    return " ".join(str(text).lower().split())


def expression_text(raw: Any, where: str) -> str:
    """A dataset's expression, normalised; an empty or non-text one is a DataError at ``where``.

    An empty sentence would silently become a text-free sample (the model sees only the video), so it
    is refused where it is read rather than producing a quietly wrong score.
    """
    if not isinstance(raw, str):
        raise DataError(f"expression is {type(raw).__name__}, not text", where=where,
                        hint="restore the annotation file from the dataset release")
    text = normalize_text(raw)
    if not text:
        raise DataError("empty expression", where=where, hint="restore the annotation file from the dataset release")
    return text


def resolve_root(root: str | Path) -> Path:
    """A dataset root as given; a relative root missing under the cwd is also tried under the checkout.

    Benchmark configs say ``root: data/<name>`` (the repository's git-ignored ``data/`` folder), so they
    work both when run from the checkout and from elsewhere.
    """
    path = Path(root).expanduser()
    if not path.is_absolute() and not path.exists() and (REPO_ROOT / path).exists():
        return REPO_ROOT / path
    return path


def check_count(what: str, actual: int, expected: int | Iterable[int], where: str) -> bool:
    """Warn (never fail) when a count differs from the released dataset's; True when it matches.

    Partial copies and fixtures are legitimate, so a mismatch is a :class:`DatasetCountWarning`, which
    ``rvosbench data check`` prints and evaluation runs log, instead of an error.
    """
    allowed = {expected} if isinstance(expected, int) else set(expected)
    if actual in allowed:
        return True
    shown = " or ".join(str(n) for n in sorted(allowed))
    warnings.warn(DatasetCountWarning(
        f"{where}: {what} is {actual}, the released dataset has {shown} "
        "(a partial or modified copy: scores are not comparable with published ones)"), stacklevel=2)
    return False


@dataclass
class SplitStats:
    """Counts ``rvosbench data check`` prints for a split."""

    videos: int
    expressions: int
    frames: int
    annotated_frames: int
    objects: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime) so repeated fingerprints are cheap."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    digest = _FILE_DIGESTS.get(key)
    if digest is None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        _FILE_DIGESTS[key] = digest
    return digest


def content_fingerprint(name: str, split: str, index: Any, files: Iterable[Path], root: Path) -> str:
    """Hash of the split's sample index (ids, texts, objects, frames) and the bytes of its annotation files.

    Any edited expression, mask, membership change or re-split changes it; moving the dataset folder
    does not (paths are taken relative to ``root``).
    """
    digest = hashlib.sha256()
    digest.update(canonical_json({"benchmark": name, "split": split, "index": index}).encode("utf-8"))
    for path in sorted(set(files)):
        digest.update(os.fsencode(os.path.relpath(path, root)))
        digest.update(file_digest(path).encode("ascii"))
    return digest.hexdigest()[:16]


class Benchmark(ABC):
    """A registered benchmark split: yields :class:`Sample` objects in a stable order.

    Subclasses set ``splits``, ``protocol`` (a registered evaluator name) and ``metrics`` (the metric
    keys that protocol reports, headline first), ``has_ground_truth`` per split, and implement
    :meth:`validate`, :meth:`_build_samples` and :meth:`annotation_files`. Construction is cheap and
    reads nothing: validation and indexing read the annotation files only, on first use.
    """

    name: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ()
    protocol: ClassVar[str] = ""
    metrics: ClassVar[tuple[str, ...]] = ()
    has_ground_truth: ClassVar[dict[str, bool]] = {}

    def __init__(self, root: str | Path, split: str, **options: Any):
        if split not in self.splits:
            raise ConfigError(f"{self.name} has no split '{split}'", where="split",
                              hint=f"choose one of: {', '.join(self.splits)}")
        self.root = resolve_root(root)
        self.split = split
        self.options = options
        self._samples: list[Sample] | None = None

    @property
    def ground_truth(self) -> bool:
        """Whether this split ships masks (server-only splits do not)."""
        return self.has_ground_truth.get(self.split, True)

    @abstractmethod
    def validate(self) -> None:
        """Check the folder layout and annotation files; raise DataError naming file/key/line."""

    @abstractmethod
    def _build_samples(self) -> list[Sample]:
        """Parse the annotations (after :meth:`validate`) into samples ordered by video then expression."""

    @abstractmethod
    def annotation_files(self) -> list[Path]:
        """The files whose bytes define the split's ground truth and membership (for the fingerprint)."""

    def samples(self) -> Iterator[Sample]:
        """Yield every (video, expression) sample of the split, ordered by video then expression."""
        if self._samples is None:
            self.validate()
            self._samples = self._build_samples()
        yield from self._samples

    def sample_list(self) -> list[Sample]:
        """All samples as a list (indexed once, then cached)."""
        return list(self.samples())

    def fingerprint(self) -> str:
        """Content hash that changes when any annotation, expression or the split membership changes."""
        index = [[s.video_id, s.exp_id, s.text, s.obj_ids, s.frame_names, s.annotated] for s in self.samples()]
        return content_fingerprint(self.name, self.split, index, self.annotation_files(), self.root)

    def stats(self) -> SplitStats:
        """Videos, expressions, frames, annotated frames and referred objects of the split."""
        frames: dict[str, int] = {}
        annotated: dict[str, set[int]] = {}
        objects: set[tuple[str, int]] = set()
        for sample in self.samples():
            frames[sample.video_id] = sample.num_frames
            annotated.setdefault(sample.video_id, set()).update(i for i, a in enumerate(sample.annotated) if a)
            objects.update((sample.video_id, obj) for obj in sample.obj_ids)
        return SplitStats(videos=len(frames), expressions=len(self), frames=sum(frames.values()),
                          annotated_frames=sum(len(a) for a in annotated.values()), objects=len(objects))

    def __len__(self) -> int:
        return sum(1 for _ in self.samples())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r})"
