"""The one owner of cost measurement: parameters, FLOPs, latency, peak memory.

``bench model``, ``bench attention`` and ``bench variants`` use it, and so does the engine for the
``cost`` record of every evaluation cell (:mod:`rvosbench.engine.cost`), so a FLOPs number means the
same in a table, a plot and a study (issue 18 found two counters that disagreed).

* Parameters: every parameter, frozen encoders included (what must be loaded to run the model), with
  the trainable count and a per-part split.
* FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions and attention;
  element-wise ops are not counted, as usual for FLOPs tables). Its table has no entry for PyTorch's
  CPU flash-attention kernel, so attention is counted with the math kernel forced (same FLOPs, every
  matmul visible).
* Latency is the median of repeated calls after warm-up (``time.perf_counter``).
* Peak memory: on CUDA, ``torch.cuda.max_memory_allocated``. On CPU PyTorch keeps no allocator
  statistics, so :class:`PeakTensorMemory` counts the bytes of every tensor storage created while it is
  active and releases them when the last tensor using the storage dies: the peak of live activation
  memory, weights excluded. It is meant for ``no_grad`` passes (autograd may keep a storage alive after
  its Python tensor is gone, which this cannot see).
"""
from __future__ import annotations

import argparse
import statistics
import time
import weakref
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode


def add_card_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--card`` (a ProxyFormer card giving ``what``), ``--threads`` and ``--json``: the options every
    ProxyFormer cost command shares."""
    parser.add_argument("--card", default="proxyformer_tiny", help=f"ProxyFormer card giving {what}")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")


def count_params(model: torch.nn.Module) -> dict[str, int]:
    """Total, trainable and per-part (``backbone``, ``text_encoder``, ``rest``) parameter counts."""
    parts = {"backbone": 0, "text_encoder": 0, "rest": 0}
    for name, param in model.named_parameters():
        part = name.split(".", 1)[0]
        parts[part if part in parts else "rest"] += param.numel()
    return {"total": sum(parts.values()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad), **parts}


def count_flops(fn: Callable[[], object]) -> int:
    """Total FLOPs of one call (attention through the math kernel so it is counted)."""
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        fn()
    return int(counter.get_total_flops())


def median_latency_ms(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
                      device: torch.device | None = None) -> float:
    """Median wall time of ``fn`` in milliseconds (CUDA is synchronised around each call)."""
    sync = torch.cuda.synchronize if device is not None and device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


class PeakTensorMemory(TorchDispatchMode):
    """Peak bytes of tensor storages alive at once among those created inside the context."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, list[int]] = {}  # storage pointer -> [tensors alive, bytes]

    def _release(self, key: int) -> None:
        entry = self._refs.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= entry[1]
            del self._refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
                continue
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key == 0:
                continue
            entry = self._refs.get(key)
            if entry is None:
                self._refs[key] = [1, storage.nbytes()]
                self.live += storage.nbytes()
                self.peak = max(self.peak, self.live)
            else:
                entry[0] += 1
            weakref.finalize(tensor, self._release, key)
        return out


def reset_peak_memory(device: torch.device) -> None:
    """Start a new accelerator peak (see :func:`peak_memory_mb`)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak accelerator memory since :func:`reset_peak_memory`; ``None`` on CPU, where PyTorch keeps no
    allocator statistics (:func:`peak_memory` counts live tensors there instead)."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return None


@contextmanager
def peak_memory(device: torch.device):
    """``with peak_memory(device) as result:`` … then ``result['bytes']`` is the peak during the block."""
    result = {"bytes": 0}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        reset_peak_memory(device)
        base = torch.cuda.memory_allocated(device)
        yield result
        torch.cuda.synchronize(device)
        result["bytes"] = torch.cuda.max_memory_allocated(device) - base
        return
    tracker = PeakTensorMemory()
    with tracker:
        yield result
    result["bytes"] = tracker.peak


def math_attention(enabled: bool):
    """Force the math attention kernel (materialised T·L × T·L scores) when ``enabled``."""
    return sdpa_kernel(SDPBackend.MATH) if enabled else nullcontext()
