"""Helpers of the ``official`` tests: import the authors' code from a checkout, perturb random weights.

The checkouts are never part of the project. A test names the environment variable that holds the
path (``RVOSBENCH_OFFICIAL_MTTR``, ``RVOSBENCH_OFFICIAL_REFERFORMER``) and is skipped, saying so, when
it is unset. Both repositories have top-level ``models``, ``util``/``misc`` … modules, so importing
from one first drops the other's modules of the same names from ``sys.modules``; and a package's
``__init__`` is not run on the way to a submodule (ReferFormer's imports its CUDA-only op).
"""
from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

import rvosbench  # noqa: F401  (torchvision importable beside a CPU torch; the authors' code imports it)


def checkout(variable: str) -> Path:
    """The checkout named by ``variable``; skips the test with the reason when it is unset or absent."""
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{variable} is not set: point it at a checkout of the authors' repository to compare with it")
    root = Path(value).expanduser()
    if not root.is_dir():
        pytest.fail(f"{variable}={value} is not a directory")
    return root


def _top_level_names(root: Path) -> set[str]:
    return {p.stem for p in root.iterdir() if p.suffix == ".py" or (p.is_dir() and not p.name.startswith("."))}


def import_official(root: Path, *names: str) -> types.ModuleType | tuple[types.ModuleType, ...]:
    """Import modules ``names`` (e.g. ``models.swin_transformer``, ``misc``) from the checkout at ``root``.

    All in one go, so they share the same instances of the authors' other modules. Parent packages are
    created bare (their ``__init__`` is not executed); sibling imports inside the authors' files
    (``from misc import …``, ``from .position_encoding import …``) resolve in ``root``.
    """
    clashing = _top_level_names(root)
    for module in [m for m in sys.modules if m.split(".")[0] in clashing]:
        del sys.modules[module]
    sys.path.insert(0, str(root))
    try:
        for name in names:
            parts = name.split(".")
            for depth in range(1, len(parts)):
                package = ".".join(parts[:depth])
                if package not in sys.modules:
                    bare = types.ModuleType(package)
                    bare.__path__ = [str(root.joinpath(*parts[:depth]))]
                    sys.modules[package] = bare
        modules = tuple(importlib.import_module(name) for name in names)
    finally:
        sys.path.remove(str(root))
    return modules[0] if len(modules) == 1 else modules


def add_noise_(module: nn.Module, seed: int, scale: float = 0.02) -> None:
    """Add ``scale``·N(0, 1) seeded noise to every float parameter and buffer.

    Freshly initialised, many tensors are zeros or constants (biases, norms, bias tables), and outputs
    that only such tensors shape say little about equivalence (official-rivals-notes.md).
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.is_floating_point():
                tensor.add_(scale * torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype))


def max_abs_diff(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """Largest absolute difference (shapes must agree)."""
    assert ours.shape == theirs.shape, f"shapes differ: ours {tuple(ours.shape)}, authors' {tuple(theirs.shape)}"
    return float((ours.double() - theirs.double()).abs().max())
