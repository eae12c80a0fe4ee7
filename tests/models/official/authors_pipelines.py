"""The authors' evaluation pipelines around their models, imported from the checkouts, and test videos.

What the ``official`` input and end-to-end tests feed both sides:

* :func:`scene_frames` draws real-looking frames (smooth lighting, objects with sharp and soft edges,
  texture, sensor noise): resampling filters differ most at edges and least on noise or flat colour;
  :func:`write_jpegs` stores them as the datasets ship them (JPEG, 4:2:0 chroma).
* :func:`referformer_scripts` imports ``inference_ytvos.py`` / ``inference_davis.py`` (their module-level
  ``transform``), :func:`referformer_datasets` the A2D/JHMDB datasets (``make_coco_transforms``),
  :func:`mttr_datasets` MTTR's three dataset modules. Importing them never runs the authors' CUDA op or a video decoder: the op's module is
  stubbed while importing, and ``torchvision.io.read_video`` (gone from torchvision 0.28, imported by
  their A2D/JHMDB datasets) is stubbed by the caller's ``monkeypatch``.
* :func:`mttr_config` reads a ``configs/*.yaml`` of MTTR as its ``main.py`` does (``{key: value}``).
"""
from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from official_helpers import import_official
from PIL import Image

CUDA_OP = "MultiScaleDeformableAttention"  # ReferFormer's compiled op, imported by its models package


def scene_frames(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 (T, H, W, 3): a lit background, a disc and a box moving across it, texture and noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 0.6 + 0.4 * np.cos((xs / width - 0.3) * 2.0) * np.cos((ys / height - 0.6) * 1.5)
    ground = np.array(rng.uniform(60, 200, 3), dtype=np.float32)
    grain = rng.normal(0, 1, (height // 6 + 2, width // 6 + 2)).astype(np.float32)  # grey, like foliage or gravel
    texture = np.asarray(Image.fromarray(np.uint8(np.clip(128 + 40 * grain, 0, 255))).resize((width, height),
                                                                                               Image.BICUBIC))[..., None]
    frames = []
    for t in range(count):
        frame = light[..., None] * ground + (texture.astype(np.float32) - 128) * 0.5
        cx, cy = width * (0.25 + 0.1 * t), height * (0.45 + 0.03 * t)
        radius = 0.18 * min(height, width)
        disc = np.clip(radius - np.hypot(xs - cx, ys - cy), 0, 1.5) / 1.5  # soft (antialiased) edge
        frame = frame * (1 - disc[..., None]) + disc[..., None] * np.array([210, 60, 40], np.float32)
        x0, y0 = int(width * (0.6 - 0.05 * t)), int(height * 0.2)
        frame[y0:y0 + height // 3, x0:x0 + width // 5] = (40, 80, 200)  # hard edges
        frame += rng.normal(0, 3, frame.shape)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_jpegs(frames: np.ndarray, folder: Path) -> list[Path]:
    """``00000.jpg``, ``00001.jpg`` … (quality 90, 4:2:0 chroma, as the Ref-YouTube-VOS/DAVIS releases)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames):
        path = folder / f"{index:05d}.jpg"
        Image.fromarray(frame).save(path, quality=90, subsampling=2)
        paths.append(path)
    return paths


def referformer_scripts(root: Path) -> types.SimpleNamespace:
    """ReferFormer's ``inference_ytvos`` and ``inference_davis`` modules (their ``transform``, ``sub_processor``)."""
    sys.modules[CUDA_OP] = types.ModuleType(CUDA_OP)  # imported by models/ops, never called here
    try:
        ytvos = import_official(root, "inference_ytvos")
        davis = import_official(root, "inference_davis")
    finally:
        del sys.modules[CUDA_OP]
    return types.SimpleNamespace(ytvos=ytvos, davis=davis)


def referformer_datasets(root: Path) -> types.SimpleNamespace:
    """ReferFormer's ``datasets.a2d`` and ``datasets.jhmdb`` (``make_coco_transforms``, clip sampling)."""
    a2d, jhmdb = import_official(root, "datasets.a2d", "datasets.jhmdb")
    return types.SimpleNamespace(a2d=a2d, jhmdb=jhmdb)


def mttr_datasets(root: Path) -> types.SimpleNamespace:
    """MTTR's dataset modules (transforms, window sampling) with ``misc`` and ``datasets.transforms``."""
    ytvos, a2d, jhmdb, misc = import_official(
        root, "datasets.refer_youtube_vos.refer_youtube_vos_dataset", "datasets.a2d_sentences.a2d_sentences_dataset",
        "datasets.jhmdb_sentences.jhmdb_sentences_dataset", "misc")
    return types.SimpleNamespace(ytvos=ytvos, a2d=a2d, jhmdb=jhmdb, misc=misc)


def mttr_config(root: Path, name: str) -> dict[str, Any]:
    """``configs/<name>.yaml`` of MTTR as ``{key: value}`` (their main.py reads the ``value`` fields)."""
    with open(root / "configs" / f"{name}.yaml", encoding="utf-8") as handle:
        return {key: entry["value"] for key, entry in yaml.safe_load(handle).items()}
