"""``rvosbench bench scoring``: ``rvosbench eval`` on a DAVIS-17-val-sized set with 1 and N worker processes.

The set is written once to a temporary folder in the Ref-YouTube-VOS layout (per-expression
protocol): 30 videos of 480×854, 60–80 frames each, 1–3 moving objects per video and one expression
per object (about 4,000 object-frames, like DAVIS-17 val's 3,984), with predictions that are the masks
shifted by up to two pixels. Both runs score the same files; the command prints their wall times, the
CPU seconds each process spent scoring, the speed-up, whether the metrics are identical, the load
average, and what the machine gives right now to that many busy processes (on a shared machine a
scaling figure only means something next to that).

The workers' forkserver is started before the set is written, as ``rvosbench eval`` starts it before
loading the catalog: its one-time imports (torch, through rvosbench) then overlap with other work, as
they do in the command, and the timed runs include starting the worker processes and their reading
of the annotations.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from rvosbench.engine.offline_eval import run_offline_eval
from rvosbench.engine.scoring import scoring_context, start_early

HEIGHT, WIDTH = 480, 854


def write_workload(root: Path, videos: int, seed: int) -> tuple[Path, int]:
    """The dataset under ``root/data`` and predictions under ``root/pred``; returns (predictions, object-frames)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    data, pred = root / "data", root / "pred"
    blank = root / "blank.jpg"
    cv2.imwrite(str(blank), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    meta, object_frames = {}, 0
    for v in range(videos):
        video, frames, objects = f"video{v:02d}", int(rng.integers(60, 81)), int(rng.integers(1, 4))
        names = [f"{t:05d}" for t in range(frames)]
        (data / "train" / "JPEGImages" / video).mkdir(parents=True)
        (data / "train" / "Annotations" / video).mkdir(parents=True)
        starts = rng.uniform((0.2 * HEIGHT, 0.1 * WIDTH), (0.8 * HEIGHT, 0.9 * WIDTH), size=(objects, 2))
        steps, radii = rng.uniform(-3, 3, size=(objects, 2)), rng.uniform(30, 110, size=objects)
        for t, name in enumerate(names):
            os.link(blank, data / "train" / "JPEGImages" / video / f"{name}.jpg")
            labels = np.zeros((HEIGHT, WIDTH), np.uint8)
            for k in range(objects):
                cy, cx = starts[k] + t * steps[k]
                labels[(yy - cy) ** 2 + ((xx - cx) / 1.4) ** 2 <= radii[k] ** 2] = k + 1
            image = Image.fromarray(labels, mode="P")
            image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
            image.save(data / "train" / "Annotations" / video / f"{name}.png")
            for k in range(objects):
                mask = np.roll(labels == k + 1, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
                target = pred / video / str(k) / f"{name}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(target), mask.astype(np.uint8) * 255)
        meta[video] = {"expressions": {str(k): {"exp": f"object {k + 1}", "obj_id": str(k + 1)} for k in range(objects)},
                       "frames": names}
        object_frames += objects * frames
    (data / "meta_expressions" / "train").mkdir(parents=True)
    (data / "meta_expressions" / "train" / "meta_expressions.json").write_text(json.dumps({"videos": meta}))
    return pred, object_frames


def _spin(iterations: int) -> float:
    """Pure-Python busy work; returns its wall seconds."""
    start, total = time.perf_counter(), 0
    for i in range(iterations):
        total += i * i
    return time.perf_counter() - start


def parallel_capacity(processes: int, iterations: int = 10_000_000) -> float:
    """How many times more busy work ``processes`` processes finish than one in the same wall time, right
    now: ``processes`` on as many idle cores; about 1 when other jobs hold the cores. Run in the scoring
    workers' process context, so it measures what they can get."""
    one = _spin(iterations)
    with ProcessPoolExecutor(processes, mp_context=scoring_context()) as pool:
        list(pool.map(_spin, [1000] * processes))  # the processes are started before the timing
        start = time.perf_counter()
        list(pool.map(_spin, [iterations] * processes))
        return processes * one / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rvosbench bench scoring", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the parallel run (default 2)")
    parser.add_argument("--videos", type=int, default=30, help="videos in the set (default 30, as DAVIS-17 val)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start_early(args.workers)
    with tempfile.TemporaryDirectory(prefix="rvosbench-scoring-") as folder:
        root = Path(folder)
        start = time.perf_counter()
        predictions, object_frames = write_workload(root, args.videos, args.seed)
        print(f"wrote {args.videos} videos, {object_frames} object-frames of {HEIGHT}x{WIDTH} "
              f"in {time.perf_counter() - start:.1f} s")
        results = {}
        for workers in (1, args.workers):
            load = os.getloadavg()[0]
            usage: dict = {}
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a synthetic set has none of the released counts
                result = run_offline_eval("ref_youtube_vos", predictions, split="train", root=str(root / "data"),
                                          out=root / f"scores{workers}", workers=workers, usage=usage)
            seconds = time.perf_counter() - start
            results[workers] = (seconds, result.metrics)
            cpu = " + ".join(f"{s:.2f}" for s in usage["cpu_s"])
            print(f"workers {workers}: {seconds:6.2f} s wall ({1000 * seconds / object_frames:.3f} ms per object-frame), "
                  f"CPU in scoring {cpu} s, load average before {load:.2f} on {os.cpu_count()} cores; "
                  f"J&F {result.metrics['J&F']:.6f}")
        one, many = results[1], results[args.workers]
        capacity = parallel_capacity(args.workers)
        print(f"speed-up with {args.workers} workers: {one[0] / many[0]:.2f}x (goal >= 1.8x for 2 workers on 2 idle "
              f"cores); metrics identical: {'yes' if one[1] == many[1] else 'NO'}")
        print(f"machine check: {args.workers} busy-loop processes finish {capacity:.2f}x the work of one in the same "
              f"time right now ({args.workers:.2f}x on idle cores); a lower figure means other jobs hold the cores")
    return 0
