"""Multi-process runs under ``torchrun``: process group set-up, sharding, gathering.

``torchrun --nproc-per-node N -m rvosbench run ...`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; the
engine then trains with DistributedDataParallel and splits evaluation *by video* across ranks (all
expressions of a video stay on one rank, because Ref-DAVIS-style protocols merge a video's objects).
Rank 0 gathers the per-sample results, scores them and writes the store; the others write nothing.
The backend is gloo on CPU (so the path is testable without GPUs) and nccl on GPUs.
"""
from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (in rank order); None elsewhere."""
        if not self.enabled:
            return [obj]
        out: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            value = value.detach().clone()
            dist.all_reduce(value)
            value /= self.world_size
        return value


BAR_POSITION_ENV = "RVOSBENCH_BAR_POSITION"


def bar_position() -> int:
    """The terminal line of this process's progress bars: ``rvosbench run --jobs J`` gives each job its
    own line (``$RVOSBENCH_BAR_POSITION``) so that J bars do not overwrite each other."""
    try:
        return max(0, int(os.environ.get(BAR_POSITION_ENV, "0")))
    except ValueError:
        return 0


def shard_by_group(keys: Sequence[str], rank: int, world_size: int) -> list[int]:
    """Indices of the items this rank handles: whole groups (videos), dealt round-robin in order."""
    groups: dict[str, int] = {}
    for key in keys:
        groups.setdefault(key, len(groups))
    return [i for i, key in enumerate(keys) if groups[key] % world_size == rank]


_context: DistContext | None = None


def init_distributed() -> DistContext:
    """Join the process group torchrun describes in the environment; a single process otherwise."""
    global _context
    if _context is not None:
        return _context
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        _context = DistContext(device=device)
        return _context
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    _context = DistContext(rank, world_size, local_rank, device)
    return _context


def shutdown_distributed() -> None:
    global _context
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _context = None
