"""Training checkpoints readable with ``torch.load(weights_only=True)``, written atomically, resumable.

A checkpoint is a dict of tensors and plain Python types only, so loading it never runs pickled
code (torch >= 2.6 refuses anything else by default, and a checkpoint from a stranger must not be able
to execute code):

```
{'format': 'rvosbench-checkpoint', 'version': 1, 'step': int, 'train_key': str,
 'model': slim state_dict, 'rebuilt_prefixes': [...], 'optimizer': state_dict, 'scheduler': state_dict,
 'rng': {'python': tuple, 'numpy': {...tensors and ints...}, 'torch': uint8 tensor, 'cuda': [tensors]},
 'meta': {...plain types...}}
```

The ``model`` entry is the models package's slim state dict (frozen encoders rebuilt at build time are
left out), so ``rvosbench.models.checkpoint.load_checkpoint(model, path)`` loads these files too.
NumPy's RNG state holds an ndarray, which ``weights_only`` does not accept; it is stored as a tensor.
"""
from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rvosbench.core.atomic import atomic_torch_save

FORMAT = "rvosbench-checkpoint"
VERSION = 1
LAST = "last.pt"
STEP_PATTERN = re.compile(r"step_(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    """Every RNG the training loop draws from, as tensors and plain types."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write a checkpoint atomically (a reader never sees a half-written file)."""
    return atomic_torch_save({"format": FORMAT, "version": VERSION, **state}, path)


def step_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the numbered checkpoints in ``folder``, oldest first."""
    found = []
    for path in folder.glob("step_*.pt"):
        match = STEP_PATTERN.search(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def prune_step_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` numbered checkpoints (``last.pt`` is never touched)."""
    for _, path in step_checkpoints(folder)[:-keep] if keep > 0 else step_checkpoints(folder):
        path.unlink(missing_ok=True)


def resolve_checkpoint(card: Mapping[str, Any], path: str | Path | None = None,
                       where: str = "--checkpoint") -> tuple[Path | None, str | None]:
    """The weights to load for a model card and their sha256: the one place that finds and checks them.

    ``path`` (a trained checkpoint, e.g. ``runs/trainings/<key>/last.pt``) wins; its sha256 is checked
    against the ``done.json`` beside it when that names it. Otherwise the card's ``checkpoint.path``
    (relative paths from the repository the card lives in) is checked against ``checkpoint.sha256``.
    ``(None, None)`` when neither names a file. A missing file or a different hash is a CheckpointError
    naming the file and what to do, before any weights are read.
    """
    import json

    from rvosbench.core.errors import CheckpointError
    from rvosbench.core.hashing import file_sha256

    spec = card.get("checkpoint") or {}
    expected = None
    if path is not None:
        path = Path(path).expanduser()
        done = path.parent / "done.json"
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(done.read_text(encoding="utf-8"))
            if record.get("checkpoint") == path.name:
                expected, source = record.get("checkpoint_sha256"), f"{done}"
    else:
        path = spec.get("path") if isinstance(spec, Mapping) else spec
        if not path:
            return None, None
        path = Path(str(path)).expanduser()
        if not path.is_absolute() and card.get("file"):
            path = Path(str(card["file"])).parent.parent / path
        expected = spec.get("sha256") if isinstance(spec, Mapping) else None
        where, source = f"{card.get('name', 'the card')}: card.checkpoint.path", "the card's checkpoint.sha256"
    if not path.is_file():
        raise CheckpointError("checkpoint not found", where=f"{where} ({path})",
                              hint="train it first (rvosbench run …), or fix the path")
    sha = file_sha256(path)
    if expected and sha != expected:
        raise CheckpointError(f"checkpoint sha256 {sha[:12]}… differs from {source} ({str(expected)[:12]}…)",
                              where=str(path), hint="download or copy the checkpoint again, or fix the card")
    return path, sha
