"""Scoring whole videos in parallel processes, with the numbers of one process.

Used by ``rvosbench eval --workers N`` (workers read the prediction files themselves) and by
``rvosbench run --eval-workers N`` (the main process predicts and hands each finished video over).

* **The unit of work is a task over whole videos** (every expression of a video, in sample order),
  scored by a fresh evaluator whose ``state()`` comes back; the caller merges the states in task
  order. Every protocol's rows are then in the same order as in one process, so its means add the
  same floats in the same order and the metrics are identical for any N (Ref-DAVIS needs whole
  videos anyway: it scores a video when its last object arrives).
* **The calling process is one of the N.** A task goes to a worker process while fewer than two
  per worker are queued there, and is scored in the calling process otherwise. Worker start-up
  (importing torch-backed rvosbench, reading the annotations) is then hidden behind useful work
  rather than added to the wall time, and nothing waits on an idle queue.
* **Workers come from a forkserver** (spawn where fork does not exist), never from a plain fork of the
  caller: the caller runs threads (torch's intra-op pool, OpenCV's pool, tqdm's monitor), and a
  child forked from it deadlocked in OpenCV (``cv2.setNumThreads`` waited forever in
  ``pthread_cond_destroy``). The server is a fresh single-threaded interpreter that imports rvosbench's
  data and metrics once; each worker forks from it in milliseconds.
* **Each worker builds the benchmark once** from its resolved config (the pool initializer), after
  importing the modules that registered the benchmark class and the protocol (plug-in files
  included), and keeps its samples; only file names, sample ids and bit-packed masks travel.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import time
import warnings
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2

from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.types import Sample

#: tasks queued per worker process before the calling process scores the next one itself
QUEUED_PER_WORKER = 2
#: what the forkserver imports once, so that workers fork with it already loaded
PRELOAD = ["rvosbench.engine.scoring", "rvosbench.data", "rvosbench.metrics"]


@dataclass
class Samples:
    """A benchmark's samples by id and by video (in sample order), as every task sees them."""

    by_uid: dict[str, Sample]
    by_video: dict[str, list[Sample]]

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Samples:
        by_video: dict[str, list[Sample]] = defaultdict(list)
        for sample in samples:
            by_video[sample.video_id].append(sample)
        return cls({s.uid: s for s in samples}, dict(by_video))


#: ``task(evaluator, samples, *args)`` scores into ``evaluator``; what it returns travels back too
Task = Callable[..., Any]


def run_task(protocol: str, samples: Samples, task: Task, *args: Any) -> tuple[Any, Any, int, float]:
    """``(task's return value, state of the fresh evaluator it filled, process id, CPU seconds)``."""
    started = time.process_time()
    evaluator = PROTOCOLS.build_from({"type": protocol})
    evaluator.reset()
    returned = task(evaluator, samples, *args)
    return returned, evaluator.state(), os.getpid(), time.process_time() - started


# -- the worker side --------------------------------------------------------------------------
_worker_samples: Samples | None = None


def _import_registrar(module: str, file: str | None) -> None:
    """Import the module that registered a benchmark or protocol (a plug-in file by its path)."""
    if module in sys.modules:
        return
    if file is not None and module.startswith("rvosbench_plugin_"):
        from rvosbench.core.plugins import load_plugin_file

        load_plugin_file(file)
    else:
        importlib.import_module(module)


def _init_worker(config: dict[str, Any], registrars: list[tuple[str, str | None]]) -> None:
    global _worker_samples
    cv2.setNumThreads(1)  # safe here: this process forked from a server that never started OpenCV's pool
    for module, file in registrars:
        _import_registrar(module, file)
    from rvosbench.data import build_benchmark

    with warnings.catch_warnings():  # the caller built the same benchmark and reported its notes
        warnings.simplefilter("ignore")
        _worker_samples = Samples.of(build_benchmark(dict(config)).sample_list())


def _run_in_worker(protocol: str, task: Task, *args: Any) -> tuple[Any, Any, int, float]:
    assert _worker_samples is not None, "scoring worker used before its initializer ran"
    return run_task(protocol, _worker_samples, task, *args)


def _ready() -> None:
    """Nothing: submitted once per worker on entry, so that workers start before the first task."""


def _registrar(cls: type) -> tuple[str, str | None]:
    module = sys.modules.get(cls.__module__)
    return cls.__module__, getattr(module, "__file__", None)


def scoring_context() -> multiprocessing.context.BaseContext:
    """Forkserver (preloading rvosbench's scoring code) where it exists, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def start_early(workers: int) -> None:
    """Start the forkserver now, when workers will be wanted later: its imports (a few seconds, torch
    included) then overlap with what the caller does first (reading annotations, listing files)."""
    if workers > 1 and "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        scoring_context()
        forkserver.ensure_running()


# -- the calling side -------------------------------------------------------------------------
class VideoScorer:
    """Runs scoring tasks in this process and in ``workers - 1`` worker processes; results in task order.

    ``submit(task, *args)`` queues a task (a module-level function, so that it pickles by name);
    :meth:`results` yields ``(returned, state)`` of the finished tasks at the head of the queue, in
    submission order. Use as a context manager: leaving it stops the workers (on an error, at once).
    """

    def __init__(self, bench: Any, config: Mapping[str, Any], workers: int):
        self.protocol = bench.protocol
        self.workers = max(1, int(workers))
        self._bench = bench
        self._config = dict(config)
        self._local: Samples | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._queue: deque[Future | tuple[Any, Any, int, float]] = deque()
        #: CPU seconds spent in tasks, by process id (this one included): shows how the work was shared
        self.cpu_seconds: dict[int, float] = defaultdict(float)

    def __enter__(self) -> VideoScorer:
        if self.workers > 1:  # the workers build the benchmark while this process starts on its share
            self._pool = self._start_pool()
            for _ in range(self.workers - 1):
                self._pool.submit(_ready)
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=error is None, cancel_futures=error is not None)
            self._pool = None

    @property
    def local_samples(self) -> Samples:
        if self._local is None:
            self._local = Samples.of(self._bench.sample_list())
        return self._local

    def _start_pool(self) -> ProcessPoolExecutor:
        registrars = [_registrar(type(self._bench)), _registrar(PROTOCOLS.get(self.protocol))]
        return ProcessPoolExecutor(self.workers - 1, mp_context=scoring_context(), initializer=_init_worker,
                                   initargs=(self._config, registrars))

    def _queued_in_workers(self) -> int:
        return sum(1 for item in self._queue if isinstance(item, Future) and not item.done())

    def submit(self, task: Task, *args: Any) -> None:
        if self._pool is not None and self._queued_in_workers() < QUEUED_PER_WORKER * (self.workers - 1):
            self._queue.append(self._pool.submit(_run_in_worker, self.protocol, task, *args))
        else:
            self._queue.append(run_task(self.protocol, self.local_samples, task, *args))

    def results(self, wait: bool = False) -> Iterator[tuple[Any, Any]]:
        """Finished results from the head of the queue in order; with ``wait``, all of them."""
        while self._queue:
            head = self._queue[0]
            if isinstance(head, Future):
                if not wait and not head.done():
                    return
                head = head.result()
            self._queue.popleft()
            returned, state, process, seconds = head
            self.cpu_seconds[process] += seconds
            yield returned, state
