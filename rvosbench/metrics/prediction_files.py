"""Reading prediction files back: the counterpart of the writers in :mod:`rvosbench.metrics.submission`,
:class:`rvosbench.metrics.ref_davis.RefDavisWriter` and :class:`rvosbench.metrics.a2d.A2DResultsWriter`.

Layouts (docs/metrics.md):

* ``per_expression`` benchmarks: ``[Annotations/]<video>/<exp_id>/<frame>.png``, one mask per frame,
  any nonzero pixel = object (as MeViS's ``eval_mevis.py`` reads them). A single wrapping folder
  (``valid/``, ``Annotations/``) is found automatically.
* ``ref_davis_u4``: ``anno_<run>/<video>/<frame>.png`` indexed PNGs (ReferFormer's output).
* ``a2d``: a COCO results JSON with every query's mask (:func:`read_coco_results`).

Every reader names the file (folder path or ``zip:member``) in its one-line PredictionError.
"""
from __future__ import annotations

import io
import json
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from rvosbench.core.errors import PredictionError, image_error
from rvosbench.core.hashing import stable_hash
from rvosbench.core.safezip import open_zip
from rvosbench.core.types import Sample

IGNORED_PREFIXES = ("__MACOSX/",)


class PredictionFiles:
    """Read-only view of a prediction folder or zip as ``{relative posix path: bytes}``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            self.names = sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*")
                                if p.is_file() and not p.name.startswith("."))
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            self._zip = open_zip(self.path)
            self.names = sorted(n for n in self._zip.namelist() if not n.endswith("/")
                                and not n.startswith(IGNORED_PREFIXES) and not Path(n).name.startswith("."))
        elif self.path.exists():
            raise PredictionError("predictions are neither a folder nor a zip", where=str(self.path),
                                  hint="pass the prediction folder or a zip of it")
        else:
            raise PredictionError("prediction folder or zip not found", where=str(self.path), hint="check the path")

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        return (self.path / name).read_bytes()

    def digest(self) -> str:
        """Cheap content identity: member CRCs of a zip, or names, sizes and mtimes of a folder."""
        if self._zip is not None:
            return stable_hash([(i.filename, i.CRC, i.file_size) for i in self._zip.infolist()])
        return stable_hash([(n, (self.path / n).stat().st_size, (self.path / n).stat().st_mtime_ns) for n in self.names])

    def find_prefix(self, expected: Sequence[str]) -> str:
        """The wrapping folder under which most ``expected`` names exist (``''``, ``Annotations/`` …)."""
        names = set(self.names)
        tops = {n.split("/", 1)[0] + "/" for n in self.names if "/" in n}
        candidates = ["", "Annotations/", *tops, *(t + "Annotations/" for t in tops)]
        probe = list(expected[:200])
        return max(candidates, key=lambda prefix: sum(prefix + e in names for e in probe))


def decode_png(data: bytes, where: str, grayscale: bool = False) -> np.ndarray:
    """A PNG's values as a 2-D integer array: palette indices for ``P`` images and the maximum over
    channels otherwise, or with ``grayscale`` what ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)`` returns
    (palette colours turned to luminance), which is how VISA's ReVOS scorer reads predictions."""
    if grayscale:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if array is None:
            raise PredictionError("cannot decode PNG", where=where, hint="write 8-bit PNG masks")
        return array
    try:
        with Image.open(io.BytesIO(data)) as image:
            array = np.asarray(image)
    except (OSError, ValueError) as error:
        raise PredictionError(f"cannot decode PNG: {image_error(error)}", where=where,
                              hint="write 8-bit PNG masks") from error
    return array.max(axis=2) if array.ndim == 3 else array


def summarise(label: str, names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return f"{len(names)} {label} ({shown}{', …' if len(names) > limit else ''})"


def check_files(files: PredictionFiles, prefix: str, required: Sequence[str], allowed: set[str]) -> None:
    """Raise one PredictionError naming missing and extra files (relative to ``prefix``)."""
    present = {n[len(prefix):] for n in files.names if n.startswith(prefix)}
    missing = [n for n in required if n not in present]
    extra = sorted(present - allowed) + sorted(n for n in files.names if not n.startswith(prefix))
    problems = [summarise(label, names) for label, names in (("missing", missing), ("extra", extra)) if names]
    if problems:
        raise PredictionError("prediction files do not match the benchmark: " + "; ".join(problems),
                              where=f"{files.path}/{prefix}" if prefix else str(files.path),
                              hint="write one PNG per frame named <video>/<exp_id>/<frame>.png (see docs/metrics.md)")


def read_mask_stack(files: PredictionFiles, names: Sequence[str], size: Sequence[int],
                    grayscale: bool = False) -> np.ndarray:
    """Decode ``names`` to a (T, H, W) uint8 stack (see :func:`decode_png`), checking each PNG's size."""
    height, width = int(size[0]), int(size[1])
    stack = np.zeros((len(names), height, width), np.uint8)
    for i, name in enumerate(names):
        where = f"{files.path}/{name}" if files.path.is_dir() else f"{files.path}:{name}"
        array = decode_png(files.read(name), where, grayscale)
        if array.shape != (height, width):
            raise PredictionError(f"mask is {array.shape[0]}x{array.shape[1]}, the frame is {height}x{width}",
                                  where=where, hint="resize predictions back to the original frame size")
        stack[i] = np.minimum(array, 255)
    return stack


# -- layouts ----------------------------------------------------------------------------------
def expression_names(sample: Sample, frames: Sequence[int] | None = None) -> list[str]:
    indices = range(sample.num_frames) if frames is None else frames
    return [f"{sample.video_id}/{sample.exp_id}/{sample.frame_names[i]}.png" for i in indices]


def davis_names(run: int, sample: Sample) -> list[str]:
    return [f"anno_{run}/{sample.video_id}/{frame}.png" for frame in sample.frame_names]


def layout_names(protocol: str, samples: Sequence[Sample]) -> tuple[list[str], set[str]]:
    """(files needed to score, files allowed) for a protocol's folder layout."""
    if protocol == "ref_davis_u4":
        from rvosbench.metrics.ref_davis import sample_run

        names = sorted({n for s in samples for n in davis_names(sample_run(s), s)})
        return names, set(names)
    required = [n for s in samples for n in expression_names(s, [i for i, a in enumerate(s.annotated) if a])]
    return required, {n for s in samples for n in expression_names(s)}


def read_coco_results(path: Path) -> dict[str, list[tuple[dict[str, Any], float]]]:
    """A COCO results JSON (``[{"image_id", "segmentation": RLE, "score"}, ...]``, every query's mask) as
    ``{image_id: [(rle, score), ...]}`` in file order; RLE counts as bytes, as pycocotools expects them."""
    try:
        detections = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PredictionError(f"cannot read the COCO results JSON: {error}", where=str(path),
                              hint="pass the JSON list written by the model's A2D evaluation") from error
    if not isinstance(detections, list):
        raise PredictionError("COCO results must be a JSON list of detections", where=str(path))
    by_image: dict[str, list[tuple[dict[str, Any], float]]] = defaultdict(list)
    for index, det in enumerate(detections):
        if not isinstance(det, dict) or not {"image_id", "segmentation", "score"} <= set(det):
            raise PredictionError(f"detection {index} lacks image_id, segmentation or score", where=str(path),
                                  hint='each entry is {"image_id", "category_id", "segmentation": RLE, "score"}')
        rle = dict(det["segmentation"])
        if isinstance(rle.get("counts"), str):
            rle["counts"] = rle["counts"].encode("ascii")
        by_image[str(det["image_id"])].append((rle, float(det["score"])))
    return by_image
