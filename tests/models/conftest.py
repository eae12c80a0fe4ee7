"""Fixtures of the model tests (helpers live in ``model_helpers``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import drawn_clip

import rvosbench.models  # noqa: F401  (registration)

CLIP_FRAMES = 4


@pytest.fixture(scope="session")
def clip() -> dict:
    return drawn_clip()


@pytest.fixture(scope="session")
def synth_clip(tmp_path_factory) -> dict:
    """One motion expression of a freshly generated two-video ``synth`` split, first 4 frames."""
    from rvosbench.data import build_benchmark
    from rvosbench.data.transforms import eval_transform, masks_to_boxes

    bench = build_benchmark({"type": "synth", "root": str(tmp_path_factory.mktemp("synth")), "split": "train",
                             "videos": {"train": 2, "val": 0, "test": 0, "compositional": 0}, "progress": False})
    bench.validate()
    sample = next(s for s in bench.samples() if s.meta.get("type") == "motion")
    indices = list(range(CLIP_FRAMES))
    masks = torch.from_numpy(np.ascontiguousarray(sample.masks(indices)))
    boxes, valid = masks_to_boxes(masks)
    assert valid.all()
    transform = eval_transform({"short_side": 64, "max_size": 96, "mean": [0.5] * 3, "std": [0.5] * 3})
    return {"frames": transform(sample.frames(indices)), "masks": masks, "boxes": boxes, "text": sample.text}
