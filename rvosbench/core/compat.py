"""Make ``import torchvision`` work next to a CPU-only torch, and keep OpenCV's warnings off stderr.

The only torchvision wheel for torch 2.13 on the package index (0.28.0) is a CUDA build whose compiled
``_C`` library cannot load beside the CPU torch. ``torchvision/_meta_registrations.py`` then registers
fake kernels for ``torchvision::nms``/``qnms`` without checking the ops exist, and ``import torchvision``
fails with ``operator torchvision::nms does not exist``. timm imports torchvision at import time and
transformers does whenever it is installed, so every backbone and text encoder would be unusable.

Fix (see shared/reference/environment.md): before torchvision is first imported, and only when its
compiled ops cannot be loaded, define the two operator schemas so the fake-kernel registration has
something to attach to. Pure-Python torchvision (transforms, model definitions, roi_align fallback)
then works. Where the real ops load (a CUDA machine with a matching build) this does nothing.
"""
from __future__ import annotations

import importlib.util
import os
import sys

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # keeps the torch.library.Library alive; dropping it would unregister the schemas
applied = False


def _torchvision_ops_loadable() -> bool:
    """True when torchvision's compiled extension loads into this torch."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # torchvision absent: nothing to patch
    folder = list(spec.submodule_search_locations)[0]
    candidates = [f for f in os.listdir(folder) if f.startswith("_C") and f.endswith((".so", ".pyd"))]
    if not candidates:
        return False
    try:
        torch.ops.load_library(os.path.join(folder, candidates[0]))
    except (OSError, RuntimeError):
        return False
    return hasattr(torch.ops.torchvision, "nms")


def ensure_torchvision_importable() -> bool:
    """Define the missing ``torchvision::nms``/``qnms`` schemas if needed. Returns True when it patched."""
    global _library, applied
    if applied or "torchvision" in sys.modules:
        return applied
    import torch

    if _torchvision_ops_loadable():
        return False
    _library = torch.library.Library("torchvision", "DEF")  # noqa: PLW0603 - module-lifetime handle
    for schema in _SCHEMAS.values():
        _library.define(schema)
    applied = True
    return True


#: OpenCV's own logger and its FFmpeg backend print ``[ WARN:0@0.1] ... can't open/read file`` and
#: ``[mjpeg @ 0x...] ...`` lines on stderr, between a progress bar and the one-line error that explains
#: the same failure. Errors are raised by rvosbench instead; ``RVOSBENCH_`` users may set the variables.
OPENCV_QUIET = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8"}  # -8: FFmpeg's AV_LOG_QUIET


def quiet_opencv() -> None:
    """Silence OpenCV's warnings at the source, unless the user set the variables (read when OpenCV
    loads; an OpenCV imported before rvosbench is set through its API)."""
    for name, value in OPENCV_QUIET.items():
        os.environ.setdefault(name, value)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and os.environ["OPENCV_LOG_LEVEL"] == OPENCV_QUIET["OPENCV_LOG_LEVEL"]:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

