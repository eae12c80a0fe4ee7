"""The one place where frames and masks are resized, normalised and augmented.

Model cards state their input in ``card.input``: ``{num_frames, short_side, max_size, mean, std,
resample}``. Training and evaluation read the same :class:`InputSpec`, so a card that changes its
resolution changes both. Choices (ReferFormer's recipe where the paper is silent, paper.md §7):

* resize so the short side is ``short_side`` unless the long side would exceed ``max_size`` (then the long
  side is ``max_size``), with DETR's rounding (``get_size_with_aspect_ratio``, which ReferFormer and MTTR
  use; without ``max_size`` it is also torchvision's ``Resize(short_side)``); nearest for masks;
* frames are resampled bilinearly with antialiasing, in one of two ways (``resample``):
  ``torch_antialias`` (default) resizes the float frames with ``F.interpolate(antialias=True)``;
  ``pil_bilinear`` resizes the 8-bit frames with PIL's bilinear filter before converting them to float,
  which is what the ReferFormer and MTTR authors' evaluation does (torchvision ``Resize`` on PIL images,
  then ``ToTensor``): PIL works in 8 bits (rounding after each of its two passes), so the two differ
  by up to about one grey level, and a card whose model must give its authors' outputs sets
  ``pil_bilinear`` (docs/rivals.md, "Inputs");
* normalise with the card's mean/std (given in [0, 1] units, or in [0, 255] units when any value is > 1);
* training: random short side from ``scales``, horizontal flip that also swaps the words "left" and
  "right" in the expression (ReferFormer and MTTR do the same, or the flip would make "the dog on the
  left" point at the wrong dog), and mild brightness/contrast jitter that never shifts hue (colour words
  must stay true). The same random draw applies to every frame of a clip.
"""
from __future__ import annotations

import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rvosbench.core.errors import ConfigError
from rvosbench.core.schema import InputOptions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ``input.resample`` values, as the card schema declares them: float ``F.interpolate`` (default) or the
#: 8-bit PIL filter of the authors' code
RESAMPLERS: tuple[str, ...] = typing.get_args(typing.get_type_hints(InputOptions)["resample"])


@dataclass(frozen=True)
class InputSpec:
    """A model's input contract (a model card's ``input`` section)."""

    num_frames: int = 5
    short_side: int = 360
    max_size: int | None = 640
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resample: str = RESAMPLERS[0]

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | InputSpec | None) -> InputSpec:
        """From a card's ``input`` mapping (or a whole card with ``card.input``); unknown keys are errors."""
        if config is None:
            return cls()
        if isinstance(config, InputSpec):
            return config
        if "card" in config:
            config = config["card"].get("input", {})
        if "input" in config and isinstance(config["input"], Mapping):
            config = config["input"]
        known = set(cls.__dataclass_fields__)
        unknown = set(config) - known
        if unknown:
            raise ConfigError(f"unknown input key(s) {sorted(unknown)}", where="card.input",
                              hint=f"known: {', '.join(sorted(known))}")
        values = dict(config)
        for key in ("mean", "std"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
                if len(values[key]) != 3:
                    raise ConfigError(f"input.{key} needs 3 values (R, G, B), got {len(values[key])}",
                                      where=f"card.input.{key}")
        if values.get("resample", RESAMPLERS[0]) not in RESAMPLERS:
            raise ConfigError(f"unknown input.resample {values['resample']!r}", where="card.input.resample",
                              hint=f"choose one of: {', '.join(RESAMPLERS)}")
        spec = cls(**values)
        if spec.short_side <= 0 or (spec.max_size is not None and spec.max_size < spec.short_side):
            raise ConfigError(f"input short_side={spec.short_side} / max_size={spec.max_size} are inconsistent",
                              where="card.input", hint="need 0 < short_side <= max_size")
        return spec

    def scaled_mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std as (3, 1, 1) tensors in [0, 1] units."""
        divisor = 255.0 if max(*self.mean, *self.std) > 1.0 else 1.0
        mean = torch.tensor(self.mean, dtype=torch.float32).view(3, 1, 1) / divisor
        std = torch.tensor(self.std, dtype=torch.float32).view(3, 1, 1) / divisor
        return mean, std


def resized_size(height: int, width: int, short_side: int, max_size: int | None) -> tuple[int, int]:
    """Output (H, W) with the short side ``short_side``, shrunk so the long side stays <= ``max_size``."""
    short, long = min(height, width), max(height, width)
    target = short_side
    if max_size is not None and long * target / short > max_size:
        target = int(round(max_size * short / long))
    if short == target:
        return height, width
    other = int(target * long / short)  # the long side follows the rounded short side (as DETR's get_size)
    return (target, other) if height == short else (other, target)


def to_float_frames(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (T, H, W, 3) → float (T, 3, H, W) in [0, 1]."""
    tensor = torch.as_tensor(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if tensor.ndim != 4 or tensor.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {tuple(tensor.shape)}")
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """float (T, 3, H, W) → (T, 3, *size), bilinear with antialiasing, in float (``torch_antialias``)."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    return F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=True)


def pil_resize_frames(frames: np.ndarray | torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """uint8 (T, H, W, 3) → uint8 (T, *size, 3) through ``PIL.Image.resize(BILINEAR)`` (``pil_bilinear``).

    The call torchvision's ``F.resize`` makes on a PIL image (``img.resize((w, h), Image.BILINEAR)``), and
    like it a no-op when the size does not change.
    """
    array = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"pil_bilinear resizes uint8 (T, H, W, 3) frames, got {array.dtype} {array.shape}")
    if tuple(array.shape[1:3]) == tuple(size):
        return array
    height, width = size
    return np.stack([np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR)) for frame in array])


def resized_float_frames(frames: np.ndarray | torch.Tensor, size: tuple[int, int], resample: str) -> torch.Tensor:
    """uint8 (T, H, W, 3) → float (T, 3, *size) in [0, 1], resampled as ``input.resample`` says."""
    if resample == "pil_bilinear":
        return to_float_frames(pil_resize_frames(frames, size))
    return resize_frames(to_float_frames(frames), size)


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    return F.interpolate(masks[:, None].float(), size=size, mode="nearest-exact")[:, 0] > 0.5


def normalize(frames: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    mean, std = spec.scaled_mean_std()
    return (frames - mean) / std


_LEFT_RIGHT = re.compile(r"\b(left|right)\b")


def swap_left_right(text: str) -> str:
    """Swap the words "left" and "right" (whole words only: "leftover" stays)."""
    return _LEFT_RIGHT.sub(lambda m: "right" if m.group(1) == "left" else "left", text)


def masks_to_boxes(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """bool (T, H, W) → boxes (T, 4) cxcywh normalised by (W, H), and valid (T,) (non-empty masks).

    Empty frames get a zero box; ``valid`` tells losses to skip them.
    """
    frames, height, width = masks.shape
    boxes = torch.zeros(frames, 4)
    valid = masks.flatten(1).any(dim=1)
    for t in torch.nonzero(valid).flatten().tolist():
        ys, xs = torch.nonzero(masks[t], as_tuple=True)
        x0, x1 = xs.min().item(), xs.max().item() + 1
        y0, y1 = ys.min().item(), ys.max().item() + 1
        boxes[t] = torch.tensor([(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height])
    return boxes, valid


class EvalTransform:
    """Whole-video (or window) transform: uint8 (T, H, W, 3) → normalised float (T, 3, h, w)."""

    def __init__(self, spec: InputSpec):
        self.spec = spec

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return resized_size(height, width, self.spec.short_side, self.spec.max_size)

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        size = self.output_size(*frames.shape[1:3])
        return normalize(resized_float_frames(frames, size, self.spec.resample), self.spec)


def eval_transform(input_cfg: Mapping[str, Any] | InputSpec | None) -> EvalTransform:
    """The evaluation transform of a model card's ``input`` section."""
    return EvalTransform(InputSpec.from_config(input_cfg))


@dataclass
class TrainTransform:
    """Clip augmentation that keeps masks aligned; ``__call__(frames, masks, text, rng)``.

    Args:
        spec: the card's input contract.
        scales: short sides to draw from (default: the card's ``short_side`` only, so a batch shares a size).
        flip: probability of a horizontal flip (with the "left"/"right" swap); 0 turns it off.
        brightness, contrast: maximum relative jitter, the same for every frame of a clip.
    """

    spec: InputSpec
    scales: Sequence[int] | None = None
    flip: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.1
    _scales: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._scales = tuple(int(s) for s in (self.scales or [self.spec.short_side]))

    def __call__(self, frames: np.ndarray, masks: np.ndarray, text: str,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, str]:
        mask_tensor = torch.as_tensor(np.ascontiguousarray(masks), dtype=torch.bool)
        short = self._scales[int(rng.integers(len(self._scales)))]
        size = resized_size(*frames.shape[1:3], short, self.spec.max_size)
        tensor = resized_float_frames(frames, size, self.spec.resample)
        mask_tensor = resize_masks(mask_tensor, size)
        if self.flip and rng.random() < self.flip:
            tensor, mask_tensor, text = tensor.flip(-1), mask_tensor.flip(-1), swap_left_right(text)
        if self.brightness or self.contrast:
            gain = 1.0 + rng.uniform(-self.contrast, self.contrast)
            shift = rng.uniform(-self.brightness, self.brightness)
            mean = tensor.mean()
            tensor = ((tensor - mean) * gain + mean + shift).clamp_(0.0, 1.0)
        return normalize(tensor, self.spec), mask_tensor, text


def train_transform(input_cfg: Mapping[str, Any] | InputSpec | None, **options: Any) -> TrainTransform:
    """The training transform of a model card's ``input`` section; options as in :class:`TrainTransform`."""
    return TrainTransform(InputSpec.from_config(input_cfg), **options)
