"""rvosbench: a benchmark and ablation framework for referring video object segmentation.

Importing the package first makes torchvision importable beside a CPU-only torch (``core.compat``) and
sets the model hubs offline (``core.offline``) and OpenCV's logging quiet, so nothing later depends on
import order.
"""
from rvosbench.core.offline import set_offline_default as _set_offline_default

_set_offline_default()

from rvosbench.core.compat import ensure_torchvision_importable as _ensure_torchvision_importable  # noqa: E402
from rvosbench.core.compat import quiet_opencv as _quiet_opencv  # noqa: E402

_ensure_torchvision_importable()
_quiet_opencv()

__version__ = "0.1.0"
