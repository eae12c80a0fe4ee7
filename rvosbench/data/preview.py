"""A picture of samples with their ground truth: one row per expression, the caption above its frames.

Used by ``rvosbench data synth --preview`` (and usable on any benchmark) so a person can check at a
glance that every expression names the highlighted object.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rvosbench.core.types import Sample

def overlay(frames: np.ndarray, masks: np.ndarray | None, dim: float = 0.45) -> np.ndarray:
    """Frames (T, H, W, 3) with everything outside the mask darkened and the mask outlined in white.

    The object keeps its true colour (a tint would change the very colour the caption names).
    """
    if masks is None:
        return frames
    out = frames.astype(np.float32)
    for t in range(len(frames)):
        mask = masks[t]
        out[t][~mask] *= 1 - dim
        out[t][mask & ~_erode(mask)] = 255
    return out.clip(0, 255).astype(np.uint8)


def _erode(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    return (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType
        return ImageFont.load_default()


def preview_strip(samples: Sequence[Sample], path: str | Path, frames_per_row: int = 8, scale: int = 3) -> Path:
    """Write a PNG with one captioned row of evenly spaced frames per sample; returns the path."""
    rows = []
    font = _font(14)
    for sample in samples:
        count = min(frames_per_row, sample.num_frames)
        indices = np.linspace(0, sample.num_frames - 1, count).round().astype(int).tolist()
        tiles = overlay(sample.frames(indices), sample.masks(indices))
        strip = np.concatenate([np.pad(t, ((0, 0), (0, 2), (0, 0)), constant_values=255) for t in tiles], axis=1)
        image = Image.fromarray(strip).resize((strip.shape[1] * scale, strip.shape[0] * scale), Image.NEAREST)
        caption_height = 22
        row = Image.new("RGB", (image.width, image.height + caption_height), "white")
        row.paste(image, (0, caption_height))
        tags = ",".join(sample.meta.get("tags", []))
        ImageDraw.Draw(row).text((4, 3), f"{sample.uid}  [{tags}]  \"{sample.text}\"", fill="black", font=font)
        rows.append(row)
    if not rows:
        raise ValueError("no samples to preview")
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height + 6 for r in rows)), "white")
    top = 0
    for row in rows:
        sheet.paste(row, (0, top))
        top += row.height + 6
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
