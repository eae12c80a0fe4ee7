"""What the stages of one ``rvosbench run`` share: the result store, the process group, built benchmarks,
the terminal, and the store's locks as seen from rank 0.

Under torchrun every rank runs the same code; rank 0 decides what is finished (and broadcasts it),
holds the locks, writes the store and prints. The other ranks only compute.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from filelock import Timeout
from torch import nn
from tqdm import tqdm

from rvosbench.core.hashing import stable_hash
from rvosbench.core.registry import PROTOCOLS, deep_merge
from rvosbench.core.store import ResultStore
from rvosbench.engine.distributed import DistContext, init_distributed
from rvosbench.engine.sampling import seed_all
from rvosbench.engine.settings import EvalSettings


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def metric_line(metrics: Mapping[str, float], names: Sequence[str]) -> str:
    return "  ".join(f"{name} {100 * metrics[name]:.1f}" for name in names if name in metrics)


def input_config(card: Mapping[str, Any], *overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The card's ``input`` section with the study's overrides (e.g. a smaller short side)."""
    config = dict(card.get("input") or {})
    for override in overrides:
        config = deep_merge(config, override or {})
    return config


def with_data_notes(action: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Run ``action`` (building or reading a benchmark) and return its result with the loaders' notes that
    the data is not the released dataset (:class:`~rvosbench.data.base.DatasetCountWarning`); every
    warning is still shown as usual."""
    from rvosbench.data.base import DatasetCountWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = action()
    notes = [str(w.message) for w in caught if issubclass(w.category, DatasetCountWarning)]
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, notes


def partial_notes(bench: Any, limit: int | None, notes: Sequence[str]) -> list[str]:
    """Why a score covers only part of ``bench``: its loader's notes, and ``eval.limit`` when it cuts."""
    total = len(bench.sample_list())
    cut = [f"eval.limit: the first {limit} of {total} samples"] if limit and limit < total else []
    return [*notes, *cut]


def eval_transform(card: Mapping[str, Any], settings: EvalSettings) -> Callable:
    from rvosbench.data import transforms

    return transforms.eval_transform(input_config(card, settings.input))


class _Held:
    def __init__(self, lock: Any):
        self.lock = lock

    def __enter__(self) -> _Held:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.lock.release()


class _NoLock:
    def __enter__(self) -> _NoLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class RunSession:
    """One process's view of a run: store, ranks, benchmark cache, output."""

    def __init__(self, store: str | Path, ctx: DistContext | None = None, echo: Callable[[str], None] | None = None,
                 eval_workers: int = 1):
        self.store = ResultStore(store)
        self.eval_workers = eval_workers  # processes scoring predictions (engine.scoring); results do not depend on it
        self.ctx = ctx or init_distributed()
        self._echo = echo or tqdm.write
        self._benchmarks: dict[str, Any] = {}
        self.data_notes: dict[str, list[str]] = {}

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    def echo(self, text: str) -> None:
        if self.ctx.is_main:
            self._echo(text)

    def benchmark(self, config: Mapping[str, Any]) -> Any:
        """Build (once per run) the benchmark a resolved config describes."""
        from rvosbench.data import build_benchmark

        cache_key = stable_hash(dict(config))
        if cache_key not in self._benchmarks:
            def build() -> Any:
                bench = build_benchmark(dict(config))
                if self.ctx.is_main:  # validates (and generates synth) once, before other ranks read it
                    bench.sample_list()
                return bench

            bench, self.data_notes[cache_key] = with_data_notes(build)
            self.ctx.barrier()
            self._benchmarks[cache_key] = bench
        return self._benchmarks[cache_key]

    def notes(self, config: Mapping[str, Any]) -> list[str]:
        """The data notes recorded when the benchmark of ``config`` was built (see :func:`with_data_notes`)."""
        return self.data_notes.get(stable_hash(dict(config)), [])

    @staticmethod
    def protocol(bench: Any) -> tuple[Any, str]:
        """A fresh evaluator of ``bench``'s protocol and its metric version (part of every key)."""
        evaluator = PROTOCOLS.build_from({"type": bench.protocol})
        return evaluator, str(getattr(evaluator, "metric_version", "1"))

    def build_model(self, model_config: Mapping[str, Any], seed: int) -> nn.Module:
        from rvosbench.models import build_model

        seed_all(seed)  # identical initial weights on every rank and in every rerun
        return build_model(dict(model_config)).to(self.ctx.device)

    def exclusive(self, path: Path, what: str) -> _Held | _NoLock:
        """The store's lock of ``path`` on rank 0, saying so when another run holds it."""
        if not self.ctx.is_main:
            return _NoLock()
        lock = self.store.lock(path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            self.echo(f"waiting for another run that holds {what} ({lock.lock_file})")
            lock.acquire()
        return _Held(lock)
