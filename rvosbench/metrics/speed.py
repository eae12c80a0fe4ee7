"""``rvosbench bench metrics``: J+F speed of rvosbench against the official DAVIS toolkit, side by side.

With ``RVOSBENCH_OFFICIAL_DAVIS`` set to a checkout of davisvideochallenge/davis2017-evaluation, the
comparison runs against its own ``davis2017.metrics`` (``db_eval_iou`` + ``db_eval_boundary``; the
toolkit needs scikit-image) and a workload of real DAVIS-17 val masks is added: the checkout ships
OSVOS's semi-supervised results and RVOS's unsupervised results for the 30 val sequences, used here as
ground truth and prediction, object id by object id. Without it the comparison runs against
``tests/metrics/davis_reference.py``, a literal re-implementation of the toolkit kept with the tests,
and the output says so.

Both sides run in this process, one frame stack at a time, on one core (OpenCV threads = 1), on the
same masks, in alternating rounds; the best round of each is kept, and times are CPU time
(``time.process_time``), so other jobs on a shared machine disturb them less than wall time. The
largest difference between the two sides' per-frame values is printed next to the timings.

Synthetic workloads (480×854, deterministic; the prediction is the GT shifted by up to 4 px and grown
or shrunk by up to 2): ``object``, one wobbly object of about 8% of the frame (the typical case);
``large``, one object of about 40%; ``thin``, a few 2–3 px wide curves across the frame; ``scattered``,
blobs over the whole frame; ``many``, twelve small objects per frame scored one by one. The last
four are the worst kinds for a method that crops to the masks: their boxes cover most of the frame.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

from rvosbench.metrics.davis import jaccard_and_boundary

REFERENCE_PATH = Path(__file__).resolve().parents[2] / "tests" / "metrics" / "davis_reference.py"
OFFICIAL_ENV = "RVOSBENCH_OFFICIAL_DAVIS"
TYPICAL = ("object", "real DAVIS")
#: (stack of GT masks, stack of predicted masks) per object
Workload = list[tuple[np.ndarray, np.ndarray]]


def official_toolkit() -> tuple[ModuleType | None, str]:
    """The module with ``db_eval_iou``/``db_eval_boundary`` to compare against, and how to name it."""
    checkout = os.environ.get(OFFICIAL_ENV)
    if checkout:
        if not (Path(checkout) / "davis2017" / "metrics.py").is_file():
            raise SystemExit(f"rvosbench: error: {OFFICIAL_ENV}={checkout} has no davis2017/metrics.py "
                             "(point it at a davis2017-evaluation checkout)")
        if importlib.util.find_spec("skimage") is None:
            raise SystemExit("rvosbench: error: the official toolkit imports scikit-image: "
                             "pip install -e '.[official]' (or pip install scikit-image)")
        sys.path.insert(0, str(Path(checkout).resolve()))
        try:
            return importlib.import_module("davis2017.metrics"), f"official davis2017-evaluation ({checkout})"
        finally:
            sys.path.pop(0)
    if REFERENCE_PATH.is_file():
        spec = importlib.util.spec_from_file_location("davis_reference", REFERENCE_PATH)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module, (f"literal re-implementation (tests/metrics/davis_reference.py; set {OFFICIAL_ENV} to a "
                        "davis2017-evaluation checkout to time the official code on real masks too)")
    return None, f"none ({OFFICIAL_ENV} unset and tests/metrics/davis_reference.py not found)"


# -- workloads ---------------------------------------------------------------------------------
def _damage(rng: np.random.Generator, gt: np.ndarray) -> np.ndarray:
    """A plausible prediction: the GT shifted by a few pixels and grown or shrunk by one or two."""
    pred = np.empty_like(gt)
    kernel = np.ones((3, 3), np.uint8)
    for t, mask in enumerate(gt):
        shifted = np.roll(mask, (int(rng.integers(-4, 5)), int(rng.integers(-4, 5))), axis=(0, 1)).view(np.uint8)
        steps = int(rng.integers(-2, 3))
        morph = cv2.dilate if steps >= 0 else cv2.erode
        pred[t] = morph(shifted, kernel, iterations=abs(steps)) > 0 if steps else shifted > 0
    return pred


def _object(frames: int, height: int, width: int, scale: float, phase: float = 0.0,
            centre: tuple[float, float] = (0.5, 0.3), travel: float = 0.4) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    gt = np.zeros((frames, height, width), bool)
    for t in range(frames):
        cy = height * centre[0] + height / 10 * np.sin(t / 5 + phase)
        cx = width * (centre[1] + travel * t / max(frames - 1, 1))
        angle = np.arctan2(yy - cy, xx - cx)
        wobble = 1 + 0.15 * np.sin(3 * angle + t / 3 + phase) + 0.08 * np.sin(7 * angle)
        gt[t] = ((yy - cy) / (scale * height)) ** 2 + ((xx - cx) / (scale * width * 0.6)) ** 2 <= wobble ** 2
    return gt


def _thin(rng: np.random.Generator, frames: int, height: int, width: int) -> np.ndarray:
    gt = np.zeros((frames, height, width), np.uint8)
    curves = [rng.uniform((0, 0), (width, height), size=(12, 2)) for _ in range(4)]
    for t in range(frames):
        for k, points in enumerate(curves):
            moved = (points + 3 * t * np.array([np.cos(k), np.sin(k)])).astype(np.int32)
            cv2.polylines(gt[t], [moved], False, 1, thickness=2 + k % 2)
    return gt > 0


def _scattered(rng: np.random.Generator, frames: int, height: int, width: int) -> np.ndarray:
    gt = np.zeros((frames, height, width), bool)
    for t in range(frames):
        noise = rng.standard_normal((height // 16 + 1, width // 16 + 1)).astype(np.float32)
        gt[t] = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC) > 0.3
    return gt


def synthetic_workloads(frames: int, height: int, width: int, seed: int) -> dict[str, Workload]:
    rng = np.random.default_rng(seed)

    def pair(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return gt, _damage(rng, gt)

    many = [pair(_object(frames, height, width, 0.06, phase=k, centre=(0.15 + 0.7 * (k % 3) / 2, 0.05 + 0.2 * (k // 3)),
                         travel=0.1)) for k in range(12)]
    return {"object": [pair(_object(frames, height, width, 0.2))],
            "large": [pair(_object(frames, height, width, 0.42))],
            "thin": [pair(_thin(rng, frames, height, width))],
            "scattered": [pair(_scattered(rng, frames, height, width))],
            "many": many}


def real_davis_workload(checkout: Path, every: int) -> Workload:
    """Every ``every``-th val sequence of the checkout's shipped results: OSVOS (semi-supervised) as
    ground truth, RVOS (unsupervised) as prediction, one (GT, prediction) stack per OSVOS object id."""
    from PIL import Image

    gt_root, pred_root = checkout / "results" / "semi-supervised" / "osvos", checkout / "results" / "unsupervised" / "rvos"
    if not gt_root.is_dir() or not pred_root.is_dir():
        return []
    pairs: Workload = []
    for sequence in sorted(p.name for p in gt_root.iterdir() if p.is_dir())[::every]:
        names = sorted(p.name for p in (gt_root / sequence).glob("*.png"))
        gt = np.stack([np.asarray(Image.open(gt_root / sequence / n)) for n in names])
        pred = np.stack([np.asarray(Image.open(pred_root / sequence / n)) for n in names])
        pairs.extend((gt == k, pred == k) for k in range(1, int(gt.max()) + 1))
    return pairs


# -- timing ------------------------------------------------------------------------------------
def _cpu_seconds(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def time_side_by_side(ours: Callable[[], object], theirs: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Best CPU seconds of each side over alternating rounds (after one warm-up call each)."""
    ours(), theirs()
    best_ours = best_theirs = float("inf")
    for _ in range(rounds):
        best_ours = min(best_ours, _cpu_seconds(ours))
        best_theirs = min(best_theirs, _cpu_seconds(theirs))
    return best_ours, best_theirs


def compare(workload: Workload, toolkit: ModuleType, rounds: int) -> dict[str, float]:
    """Per object-frame times of both sides and the largest per-frame difference of J and F."""
    def ours() -> list:
        return [jaccard_and_boundary(gt, pred) for gt, pred in workload]

    def theirs() -> list:
        return [(toolkit.db_eval_iou(gt, pred), toolkit.db_eval_boundary(gt, pred)) for gt, pred in workload]

    ours_s, theirs_s = time_side_by_side(ours, theirs, rounds)
    with np.errstate(divide="ignore", invalid="ignore"):  # the toolkit divides 0/0 before fixing it
        diff = max(max(np.abs(np.asarray(j) - jr).max(), np.abs(np.asarray(f) - fr).max())
                   for (j, f), (jr, fr) in zip(ours(), theirs()))
    object_frames = sum(len(gt) for gt, _ in workload)
    return {"object_frames": object_frames, "objects": len(workload),
            "fg": float(np.mean([gt.mean() for gt, _ in workload])),
            "ours_ms": 1000 * ours_s / object_frames, "theirs_ms": 1000 * theirs_s / object_frames,
            "ratio": theirs_s / ours_s, "diff": float(diff)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rvosbench bench metrics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=16, help="frames per synthetic video (default 16)")
    parser.add_argument("--size", type=int, nargs=2, default=(480, 854), metavar=("H", "W"))
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds; the best is kept")
    parser.add_argument("--real-every", type=int, default=3,
                        help="real DAVIS workload: every N-th of the 30 val sequences (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    toolkit, toolkit_name = official_toolkit()
    height, width = args.size
    workloads = synthetic_workloads(args.frames, height, width, args.seed)
    checkout = os.environ.get(OFFICIAL_ENV)
    if checkout:
        real = real_davis_workload(Path(checkout), args.real_every)
        if real:
            workloads["real DAVIS"] = real
    print(f"J+F per object-frame, one core (cv2 threads = 1), CPU time, best of {args.rounds} alternating rounds")
    print(f"compared against: {toolkit_name}")
    if toolkit is None:
        return 0
    header = (f"{'workload':<11} {'objects':>7} {'obj-frames':>10} {'fg area':>7} {'ours ms':>8} "
              f"{'theirs ms':>9} {'speed-up':>8} {'max |diff|':>10}")
    print(header)
    print("-" * len(header))
    results = {}
    for name, workload in workloads.items():
        row = results[name] = compare(workload, toolkit, args.rounds)
        print(f"{name:<11} {row['objects']:>7} {row['object_frames']:>10} {row['fg']:>7.1%} {row['ours_ms']:>8.3f} "
              f"{row['theirs_ms']:>9.3f} {row['ratio']:>7.1f}x {row['diff']:>10.1e}")
    typical = [results[n]["ratio"] for n in TYPICAL if n in results]
    worst = [r["ratio"] for n, r in results.items() if n not in TYPICAL]
    print(f"typical masks: {min(typical):.1f}x (goal >= 20x); worst kind: {min(worst):.1f}x (goal >= 10x); "
          f"values identical: {'yes' if all(r['diff'] == 0 for r in results.values()) else 'NO'}")
    return 0
