"""Submission zips for server-only splits, and a validator to run before uploading one.

Layouts (rivals.md §1.1 and §1.5):

* ``ref_youtube_vos``: ``Annotations/<video_id>/<exp_id>/<frame>.png`` (ReferFormer renames its output
  folder to ``Annotations`` and zips it; MTTR writes the same tree).
* ``mevis``: ``<video_id>/<exp_id>/<frame>.png`` at the top level, no ``Annotations/`` wrapper (the
  official sample zip holds the 140 ``valid`` video folders directly).

Each PNG is single-channel 8-bit, 0 = background and 255 = the referred object, at the frame's
original size, one per frame listed in the split's ``meta_expressions.json``. PNGs are already
compressed, so members are stored, not deflated again.
"""
from __future__ import annotations

import io
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from rvosbench.core.errors import PredictionError
from rvosbench.core.safezip import open_zip
from rvosbench.core.types import Prediction, Sample
from rvosbench.metrics.common import check_prediction

LAYOUT_PREFIX = {"ref_youtube_vos": "Annotations/", "mevis": ""}


def layout_prefix(layout: str) -> str:
    if layout not in LAYOUT_PREFIX:
        raise ValueError(f"unknown submission layout {layout!r}; known: {', '.join(LAYOUT_PREFIX)}")
    return LAYOUT_PREFIX[layout]


def member_name(layout: str, video_id: str, exp_id: str, frame: str) -> str:
    return f"{layout_prefix(layout)}{video_id}/{exp_id}/{frame}.png"


def encode_png(mask: np.ndarray) -> bytes:
    """A (H, W) mask as a single-channel 0/255 PNG."""
    return encode_png_labels(np.where(mask, 255, 0))


def encode_png_labels(labels: np.ndarray) -> bytes:
    """A (H, W) map of ids 0..255 as a single-channel 8-bit PNG (0 = background)."""
    ok, data = cv2.imencode(".png", labels.astype(np.uint8))
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return data.tobytes()


class StagedSink(ABC):
    """A predictions file written to ``<path>.partial`` and renamed when closed without error.

    An interrupted run therefore never leaves a file that looks complete (a failed run removes its
    partial file). Subclasses open the partial file in :meth:`open_partial`, close it in
    :meth:`close_partial` and add ``__call__(sample, prediction)``, the engine's prediction-sink contract.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.open_partial(self._partial)

    @abstractmethod
    def open_partial(self, partial: Path) -> None:
        """Open the staging file ``partial`` for writing."""

    @abstractmethod
    def close_partial(self) -> None:
        """Flush and close the staging file (before it is renamed or removed)."""

    def finish(self) -> None:
        """Write whatever is still buffered (nothing by default); called by :meth:`close` before the rename."""

    def close(self) -> Path:
        self.finish()
        self.close_partial()
        self._partial.replace(self.path)
        return self.path

    def __enter__(self) -> StagedSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close_partial()
            self._partial.unlink(missing_ok=True)


class ZipSink(StagedSink):
    """A staged zip of PNG predictions (stored, not deflated: PNGs are already compressed)."""

    def open_partial(self, partial: Path) -> None:
        self._zip = zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED)

    def close_partial(self) -> None:
        self._zip.close()


class SubmissionWriter(ZipSink):
    """Streams predictions into a submission zip; usable as the engine's prediction sink.

    ``with SubmissionWriter('out.zip', 'mevis') as sink: sink(sample, prediction)``.
    """

    def __init__(self, path: str | Path, layout: str):
        layout_prefix(layout)
        super().__init__(path)
        self.layout = layout

    def __call__(self, sample: Sample, prediction: Prediction) -> None:
        check_prediction(sample, prediction)
        for frame, mask in zip(sample.frame_names, prediction.masks):
            self._zip.writestr(member_name(self.layout, sample.video_id, sample.exp_id, frame), encode_png(mask))


def expected_members(samples: Iterable[Sample], layout: str) -> dict[str, tuple[int, int]]:
    """``{member name: (height, width)}`` for every listed frame of every expression."""
    return {member_name(layout, s.video_id, s.exp_id, frame): tuple(s.orig_size)
            for s in samples for frame in s.frame_names}


def _describe(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown} (+{len(names) - limit} more)" if len(names) > limit else shown


def validate_submission(zip_path: str | Path, samples: Iterable[Sample], layout: str) -> int:
    """Check a submission zip against the split; return the number of PNGs, or raise PredictionError.

    Reports, in one line, missing files, extra files, files that are not single-channel 8-bit PNGs,
    and PNGs whose size differs from the frame's, each with the first few names and a count.
    """
    zip_path = Path(zip_path)
    expected = expected_members(samples, layout)
    archive = open_zip(zip_path)
    problems: list[str] = []
    with archive:
        present = {name for name in archive.namelist() if not name.endswith("/")}
        missing = sorted(set(expected) - present)
        extra = sorted(present - set(expected))
        bad_format, bad_size = [], []
        for name in sorted(present & set(expected)):
            try:
                with Image.open(io.BytesIO(archive.read(name))) as image:
                    size, mode, kind = (image.height, image.width), image.mode, image.format
            except (OSError, ValueError):
                bad_format.append(name)
                continue
            if kind != "PNG" or mode not in ("L", "P", "1"):
                bad_format.append(f"{name} [{kind} {mode}]")
            elif size != expected[name]:
                bad_size.append(f"{name} [{size[0]}x{size[1]}, expected {expected[name][0]}x{expected[name][1]}]")
    for label, names in (("missing", missing), ("extra", extra), ("not single-channel PNG", bad_format),
                         ("wrong size", bad_size)):
        if names:
            problems.append(f"{len(names)} {label}: {_describe(names)}")
    if problems:
        raise PredictionError(f"submission does not match the split ({len(expected)} PNGs expected): "
                              + "; ".join(problems), where=str(zip_path),
                              hint=f"{layout} expects {member_name(layout, '<video>', '<exp_id>', '<frame>')}, "
                                   "one 0/255 PNG per listed frame")
    return len(expected)
