"""``rvosbench bench metrics``: J+F speed of rvosbench vs the official DAVIS toolkit, side by side.

The official davis2017-evaluation package is used when it is importable (``davis2017.metrics``; it is
not on PyPI, install it from its repository). Otherwise the comparison runs against
``tests/metrics/davis_reference.py``, a literal re-implementation of the toolkit's algorithm kept with
the tests, and the output says so. Both run in this process on one core (OpenCV threads set to 1) on
the same synthetic 480×854 videos, and the largest per-frame difference between the two is printed
next to the timings.

Workloads (deterministic): ``object``, one wobbly moving object of about 8% of the frame with a
shifted/dilated prediction (the typical DAVIS/MeViS case); ``large``, an object of about 40%; and
``scattered``, blobs spread over the whole frame, the worst case for the crop to the masks' box.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

from rvosbench.metrics.davis import jaccard_and_boundary

REFERENCE_PATH = Path(__file__).resolve().parents[2] / "tests" / "metrics" / "davis_reference.py"


def official_toolkit() -> tuple[ModuleType | None, str]:
    """The module with ``db_eval_iou``/``db_eval_boundary`` to compare against, and how to name it."""
    try:
        return importlib.import_module("davis2017.metrics"), "official davis2017-evaluation"
    except ImportError:
        pass
    if REFERENCE_PATH.is_file():
        spec = importlib.util.spec_from_file_location("davis_reference", REFERENCE_PATH)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module, "literal re-implementation (tests/metrics/davis_reference.py; davis2017 not importable)"
    return None, "none (davis2017 not importable and tests/metrics/davis_reference.py not found)"


def _object_video(rng: np.random.Generator, frames: int, height: int, width: int,
                  scale: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    gt = np.zeros((frames, height, width), bool)
    for t in range(frames):
        cy = height / 2 + height / 10 * np.sin(t / 5)
        cx = width * (0.3 + 0.4 * t / max(frames - 1, 1))
        angle = np.arctan2(yy - cy, xx - cx)
        wobble = 1 + 0.15 * np.sin(3 * angle + t / 3) + 0.08 * np.sin(7 * angle)
        gt[t] = ((yy - cy) / (scale * height)) ** 2 + ((xx - cx) / (scale * width * 0.6)) ** 2 <= wobble ** 2
    return gt, _damage(rng, gt)


def _scattered_video(rng: np.random.Generator, frames: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((frames, height, width), bool)
    for t in range(frames):
        noise = rng.standard_normal((height // 16 + 1, width // 16 + 1)).astype(np.float32)
        field = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
        gt[t] = field > 0.3
    return gt, _damage(rng, gt)


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


def workloads(frames: int, height: int, width: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {"object": _object_video(rng, frames, height, width, scale=0.2),
            "large": _object_video(rng, frames, height, width, scale=0.42),
            "scattered": _scattered_video(rng, frames, height, width)}


def _best_ms_per_frame(fn: Callable[[], object], frames: int, repeats: int) -> float:
    fn()  # warm-up: imports, caches, first-touch of the arrays
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1000 * best / frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rvosbench bench metrics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20, help="frames per synthetic video (default 20)")
    parser.add_argument("--size", type=int, nargs=2, default=(480, 854), metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    toolkit, toolkit_name = official_toolkit()
    height, width = args.size
    print(f"J+F per frame at {height}x{width}, {args.frames} frames per video, one core (cv2 threads = 1)")
    print(f"compared against: {toolkit_name}")
    header = f"{'workload':<10} {'fg area':>7} {'ours ms/frame':>14} {'toolkit ms/frame':>17} {'speed-up':>9} {'max |diff|':>11}"
    print(header)
    print("-" * len(header))
    ratios = []
    for name, (gt, pred) in workloads(args.frames, height, width, args.seed).items():
        ours_ms = _best_ms_per_frame(lambda: jaccard_and_boundary(gt, pred), args.frames, args.repeats)
        if toolkit is None:
            print(f"{name:<10} {gt.mean():>7.1%} {ours_ms:>14.3f} {'-':>17} {'-':>9} {'-':>11}")
            continue

        def official() -> tuple[np.ndarray, np.ndarray]:
            return toolkit.db_eval_iou(gt, pred), toolkit.db_eval_boundary(gt, pred)

        theirs_ms = _best_ms_per_frame(official, args.frames, max(1, args.repeats - 1))
        j, f = jaccard_and_boundary(gt, pred)
        j_ref, f_ref = official()
        diff = max(np.abs(j - j_ref).max(), np.abs(f - f_ref).max())
        ratios.append(theirs_ms / ours_ms)
        print(f"{name:<10} {gt.mean():>7.1%} {ours_ms:>14.3f} {theirs_ms:>17.3f} {ratios[-1]:>8.1f}x {diff:>11.1e}")
    if ratios:
        print(f"speed-up range {min(ratios):.1f}x – {max(ratios):.1f}x (goal: ≥ 20x on typical objects)")
    return 0
