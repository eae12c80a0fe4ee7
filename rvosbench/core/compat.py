"""Make ``import torchvision`` work next to a CPU-only torch.

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
