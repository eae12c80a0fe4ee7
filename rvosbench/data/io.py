"""Reading dataset files: checked JSON/text access and lazy frame and mask decoding.

Every check raises :class:`~rvosbench.core.errors.DataError` naming the file (and line or key) and what
to do, so a damaged copy is reported in one line. Frames are decoded with OpenCV or PIL (not
``torchvision.io``, which cannot decode beside the CPU torch; see core.compat). The loaders below are
small picklable callables, so samples can cross into DataLoader worker processes.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from rvosbench.core.errors import ConfigError, DataError, first_line, image_error

DECODERS = ("cv2", "pil")


def check_decoder(decoder: str) -> str:
    """The ``decoder`` option of a loader: ``cv2`` (default, faster on JPEG) or ``pil``."""
    if decoder not in DECODERS:
        raise ConfigError(f"unknown decoder '{decoder}'", where="decoder", hint=f"choose one of: {', '.join(DECODERS)}")
    return decoder


def require_dir(path: Path, what: str, hint: str) -> Path:
    if not path.is_dir():
        raise DataError(f"missing folder ({what})", where=str(path), hint=hint)
    return path


def require_file(path: Path, what: str, hint: str) -> Path:
    if not path.is_file():
        raise DataError(f"missing file ({what})", where=str(path), hint=hint)
    return path


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON object hook: a repeated key (e.g. a video listed twice) would silently drop one entry."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def load_json(path: Path, what: str, hint: str = "restore the file from the dataset release") -> Any:
    """Parse a JSON file; syntax errors give line and column, and a duplicate id (key) is an error."""
    require_file(path, what, hint)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle, object_pairs_hook=_refuse_duplicate_keys)
    except _DuplicateKey as error:
        raise DataError(f"duplicate id {error.args[0]!r} (the same key appears twice in one object)", where=str(path),
                        hint=hint) from error
    except json.JSONDecodeError as error:
        raise DataError(f"malformed JSON: {error.msg} (column {error.colno})", where=f"{path}:{error.lineno}",
                        hint=hint) from error
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 JSON (byte {error.start})", where=str(path), hint=hint) from error


def expect_mapping(value: Any, where: str, key: str, hint: str = "restore the file from the dataset release") -> dict:
    """``value`` must be a JSON object; else a DataError naming ``key``."""
    if not isinstance(value, dict):
        raise DataError(f"key '{key}' must be an object, found {type(value).__name__}", where=where, hint=hint)
    return value


def _jpeg_truncated(data: bytes) -> bool:
    """A JPEG without its end-of-image marker near the end was cut short (libjpeg would decode it
    anyway, grey below the cut, printing only a warning)."""
    return data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]


def read_rgb(path: Path, decoder: str = "cv2") -> np.ndarray:
    """Decode one image as uint8 (H, W, 3) RGB; a truncated or unreadable file is a DataError."""
    if decoder == "cv2":
        try:
            data = path.read_bytes()
        except OSError as error:
            raise DataError(f"cannot read image: {error.strerror or first_line(error)}", where=str(path),
                            hint="the file is missing or unreadable; restore it") from error
        image = None if _jpeg_truncated(data) else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            what = "truncated JPEG (no end-of-image marker)" if _jpeg_truncated(data) else "cannot decode image"
            raise DataError(what, where=str(path), hint="the file is missing or corrupt; restore it")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise DataError(f"cannot decode image: {image_error(error)}", where=str(path),
                        hint="the file is missing or corrupt; restore it") from error


def _require_palette(mode: str, path: Path) -> None:
    """Ground truth must be an indexed ("P") PNG whose pixel values are object ids. A greyscale (L) 0/255
    mask would read as object 255, and a colour (RGB) rendering as nothing: both score against an empty
    ground truth without a word, so they are refused."""
    if mode == "P":
        return
    if mode in ("L", "1", "I", "I;16"):
        raise DataError(f"annotation is a greyscale ({mode}) image, expected an indexed (palette) PNG whose "
                        "pixel values are object ids", where=str(path),
                        hint="use the released Annotations; a 0/255 mask would be read as object 255 and scored "
                             "against an empty ground truth (save masks with rvosbench.data.io.write_label_png)")
    raise DataError(f"annotation is a {mode} image, expected an indexed (palette) PNG", where=str(path),
                    hint="use the released Annotations, not colour renderings")


def check_label_png(path: Path) -> None:
    """Check an annotation's header (cheap: no pixels are decoded): it exists and is a palette PNG."""
    try:
        with Image.open(path) as image:
            mode = image.mode
    except (OSError, ValueError) as error:
        raise DataError(f"cannot decode annotation: {image_error(error)}", where=str(path),
                        hint="the file is missing or corrupt; restore it") from error
    _require_palette(mode, path)


def read_label_map(path: Path) -> np.ndarray:
    """Decode an indexed ("P") annotation PNG as its raw label values (H, W) uint8."""
    try:
        with Image.open(path) as image:
            _require_palette(image.mode, path)
            return np.asarray(image)
    except OSError as error:
        raise DataError(f"cannot decode annotation: {image_error(error)}", where=str(path),
                        hint="the file is missing or corrupt; restore it") from error


class ImageFrames:
    """``indices -> uint8 (T, H, W, 3)`` from one image file per frame."""

    def __init__(self, paths: Sequence[Path], decoder: str = "cv2"):
        self.paths = list(paths)
        self.decoder = decoder

    def __call__(self, indices: Sequence[int]) -> np.ndarray:
        return np.stack([read_rgb(self.paths[i], self.decoder) for i in indices])


class LabelMapMasks:
    """``indices -> bool (T, H, W)``: union of ``obj_ids`` in indexed PNGs; frames without a file are empty."""

    def __init__(self, paths: Sequence[Path | None], obj_ids: Sequence[int], size: tuple[int, int]):
        self.paths = list(paths)
        self.obj_ids = np.asarray(list(obj_ids), dtype=np.int64)
        self.size = size

    def __call__(self, indices: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(indices), *self.size), dtype=bool)
        for row, i in enumerate(indices):
            path = self.paths[i]
            if path is None:
                continue
            labels = read_label_map(path)
            if labels.shape != tuple(self.size):
                raise DataError(f"annotation is {labels.shape[1]}x{labels.shape[0]}, frames are "
                                f"{self.size[1]}x{self.size[0]}", where=str(path), hint="restore the released file")
            for obj_id in self.obj_ids:  # one comparison per object: ~70x faster than np.isin on a frame
                out[row] |= labels == obj_id
        return out


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image without decoding its pixels."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except OSError as error:
        raise DataError(f"cannot read image header: {image_error(error)}", where=str(path),
                        hint="the file is missing or corrupt; restore it") from error


def label_palette() -> list[int]:
    """The 256-entry colour map of PASCAL VOC / DAVIS / YouTube-VOS indexed annotations (flat RGB list).

    Entry k spreads the bits of k over the three channels, most significant first: 1 is dark red,
    2 dark green, 3 olive, …; viewers show released annotations in these colours.
    """
    palette = []
    for index in range(256):
        red = green = blue = 0
        value = index
        for shift in range(7, -1, -1):
            red |= (value & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette.extend((red, green, blue))
    return palette


_PALETTE = label_palette()


def write_label_png(path: Path, labels: np.ndarray) -> None:
    """Save a uint8 label map as an indexed ("P") PNG with the standard palette."""
    image = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="L")
    image.putpalette(_PALETTE)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=False)


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Save a uint8 (H, W, 3) RGB frame as a baseline JPEG (deterministic bytes for equal input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(path, quality=quality)
