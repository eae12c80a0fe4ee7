"""Model checkpoints: slim state dicts out, safe and clearly-checked loading in.

* :func:`model_state_dict` leaves out frozen encoders whose weights are rebuilt at build time from a
  package or local file (``model.rebuilt_prefixes()``): a ``proxyformer_tiny`` checkpoint is then a few
  MB instead of the 110 MB of frozen MiniLM + EfficientNet it would otherwise repeat.
* :func:`load_checkpoint` reads with ``torch.load(weights_only=True)`` (no arbitrary pickles) and
  reports a checkpoint that does not fit as one :class:`CheckpointError` line listing missing keys,
  unexpected keys and shape mismatches (a few of each, with counts), instead of PyTorch's wall of text.
* Authors' release checkpoints (ReferFormer, MTTR) load too: the few plain classes they pickle are
  allowed (:data:`SAFE_GLOBALS`), and a file in the authors' layout is converted on load by
  :mod:`rvosbench.models.official` when the model knows their layout.
"""
from __future__ import annotations

import argparse
import collections
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rvosbench.core.atomic import atomic_torch_save
from rvosbench.core.errors import CheckpointError, first_line

SHOWN = 3  # keys named per problem kind in the one-line report
#: the only non-builtin classes ``weights_only`` loading accepts beyond torch's defaults: ReferFormer's
#: release files pickle their ``argparse.Namespace`` under 'args' and a ``MultiStepLR`` state whose
#: milestones are a ``collections.Counter`` (both plain containers; nothing in them can run code)
SAFE_GLOBALS = (argparse.Namespace, collections.Counter)


def rebuilt_prefixes_of(model: nn.Module) -> tuple[str, ...]:
    """Parameter prefixes a model rebuilds at build time (frozen packaged encoders): not saved, not required."""
    prefixes = getattr(model, "rebuilt_prefixes", None)
    return tuple(prefixes()) if callable(prefixes) else ()


def model_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict without the frozen, rebuilt-at-build-time encoders."""
    skip = rebuilt_prefixes_of(model)
    return {k: v for k, v in model.state_dict().items() if not k.startswith(skip)}


def save_checkpoint(model: nn.Module, path: str | Path, **extra: Any) -> Path:
    """Write ``{'model': slim state dict, 'rebuilt_prefixes': [...], **extra}`` atomically.

    The same crash-safe writer as the engine's training checkpoints (:mod:`rvosbench.core.atomic`).
    """
    state = {"model": model_state_dict(model), "rebuilt_prefixes": list(rebuilt_prefixes_of(model)), **extra}
    return atomic_torch_save(state, path)


def _listing(kind: str, names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN]) + (f" … (+{len(names) - SHOWN})" if len(names) > SHOWN else "")
    return f"{len(names)} {kind} ({shown})"


def state_dict_differences(module: nn.Module, state: Mapping[str, torch.Tensor],
                           allow_missing: Iterable[str] = ()) -> dict[str, list[str]]:
    """``{'missing keys': [...], 'unexpected keys': [...], 'shape mismatches': [...]}`` of ``state`` against
    ``module`` (keys starting with a prefix in ``allow_missing`` may be absent)."""
    allow = tuple(allow_missing)
    expected = module.state_dict()
    return {
        "missing keys": [k for k in expected if k not in state and not k.startswith(allow)],
        "unexpected keys": [k for k in state if k not in expected],
        "shape mismatches": [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                             for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)],
    }


def load_state_dict_into(module: nn.Module, state: Mapping[str, torch.Tensor], source: str,
                         allow_missing: Iterable[str] = ()) -> None:
    """Strictly load ``state`` into ``module``; any mismatch raises one CheckpointError line.

    Keys starting with a prefix in ``allow_missing`` may be absent (they were rebuilt at build time).
    """
    problems = [_listing(kind, names) for kind, names in state_dict_differences(module, state, allow_missing).items()
                if names]
    if problems:
        raise CheckpointError("checkpoint does not fit the model: " + "; ".join(problems), where=source,
                              hint="was it trained with another model card or config? build the model from "
                                   "the card it was trained with")
    module.load_state_dict({k: v for k, v in state.items()}, strict=False)


def _not_a_checkpoint(path: Path) -> str | None:
    """Why ``path`` cannot be a torch checkpoint, judged from its first bytes, or None when it may be one.

    ``torch.save`` writes a zip archive (``PK``), older versions a pickle (``0x80``); anything else would
    make ``torch.load`` fail with a misleading message ("pickled objects", ``KeyError: 101``).
    """
    size = path.stat().st_size
    if size == 0:
        return "the file is empty (0 bytes): it was not written completely"
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return None
    text = head.decode("ascii", errors="replace")
    if all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return f"not a PyTorch checkpoint: it is text (starting {text.splitlines()[0][:12]!r})"
    return f"not a PyTorch checkpoint ({size} bytes starting {head[:4].hex(' ')}; torch.save writes a zip archive)"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file safely; returns the dict (``{'model': state, ...}`` or a bare state dict)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}",
                              hint="train it first (rvosbench run ...) or fill in card.checkpoint.path")
    problem = _not_a_checkpoint(path)
    if problem is not None:
        raise CheckpointError(problem, where=str(path), hint="point to the .pt file torch.save wrote; re-download "
                              "or re-train it")
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # weights_only met a class or function: code would run
        raise CheckpointError("refused: the checkpoint holds pickled objects or code, which could run on load",
                              where=str(path), hint="load only checkpoints of plain tensors; re-save the state dict "
                              "with torch.save(model.state_dict()) where you trust the file") from error
    except Exception as error:  # truncated or not a torch file at all
        raise CheckpointError(f"cannot read checkpoint ({type(error).__name__}: {first_line(error)})",
                              where=str(path), hint="the file is truncated or not a torch checkpoint; "
                              "re-download or re-train it") from error
    if not isinstance(data, Mapping):
        raise CheckpointError(f"checkpoint holds a {type(data).__name__}, not a state dict", where=str(path))
    return dict(data)


def load_checkpoint(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (or a bare state dict) into ``model``.

    Returns the checkpoint's other entries (step, config, …) for the caller.
    """
    from rvosbench.models.official import native_or_converted_state

    state, data = native_or_converted_state(model, read_checkpoint(path), source=str(path))
    load_state_dict_into(model, state, source=str(path), allow_missing=rebuilt_prefixes_of(model))
    return data
