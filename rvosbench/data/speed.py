"""``rvosbench bench data``: decoding speed of every frame and mask format, and of training clips.

Writes deterministic synthetic videos in each on-disk format to a temporary folder (480x854 by
default, the DAVIS/Ref-YouTube-VOS frame size; A2D clips are 320 pixels high), then times the loaders'
own decoders on one core. JPEG frames are decoded with OpenCV and with PIL side by side (the ``decoder``
option of the loaders), and the ratio is printed. The last row times whole training clips of ``synth``
(decode + resize + flip + normalise), the input of the default study.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import scipy.io
import torch

from rvosbench.data.a2d import H5InstanceMasks, VideoFileFrames, forget_decoded_clip
from rvosbench.data.fixtures.a2d import write_h5_frame, write_mp4
from rvosbench.data.fixtures.common import toy_video
from rvosbench.data.fixtures.mevis import encode_rle
from rvosbench.data.io import ImageFrames, LabelMapMasks, write_jpeg, write_label_png
from rvosbench.data.jhmdb import PuppetMasks
from rvosbench.data.mevis import MaskDict, RLEUnionMasks


def _rate(decode: Callable[[], object], frames: int, repeats: int) -> float:
    """Frames per second of the best of ``repeats`` runs (the first run warms caches)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        decode()
        best = min(best, time.perf_counter() - start)
    return frames / best


def run(frames: int, height: int, width: int, repeats: int, clips: int) -> list[tuple[str, str, float, float | None]]:
    """Rows of (format, size, frames/s with the default decoder, frames/s with PIL or None)."""
    rng = np.random.default_rng(0)
    video, labels = toy_video(rng, frames, height, width, objects=3)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        jpgs = [root / "jpg" / f"{t:05d}.jpg" for t in range(frames)]
        pngs = [root / "png" / f"{t:05d}.png" for t in range(frames)]
        for t in range(frames):
            write_jpeg(jpgs[t], video[t])
            write_label_png(pngs[t], labels[t])
        everything = range(frames)
        size = f"{height}x{width}"
        rows.append(("JPEG frames (Ref-YTVOS, DAVIS, MeViS)", size, _rate(lambda: ImageFrames(jpgs, "cv2")(everything),
                     frames, repeats), _rate(lambda: ImageFrames(jpgs, "pil")(everything), frames, repeats)))
        rows.append(("palette PNG masks (Ref-YTVOS, DAVIS)", size,
                     _rate(lambda: LabelMapMasks(pngs, [1, 2], (height, width))(everything), frames, repeats), None))
        rle_path = root / "mask_dict.json"
        rle_path.write_text(json.dumps({str(k): [encode_rle(l == k + 1) for l in labels] for k in range(3)}))
        rle = RLEUnionMasks(MaskDict(rle_path), [0, 1], (height, width))
        rle(range(1))  # parse the JSON once, as a split does
        rows.append(("RLE masks, union of 2 (MeViS)", size, _rate(lambda: rle(everything), frames, repeats), None))

        a2d_height, a2d_width = 320, int(round(320 * width / height))
        clip, clip_labels = toy_video(rng, frames, a2d_height, a2d_width, objects=2)
        mp4 = root / "clip.mp4"
        write_mp4(mp4, clip)

        def decode_mp4() -> None:
            forget_decoded_clip()  # time a cold decode, not the one-clip cache
            VideoFileFrames(mp4)(everything)

        a2d_size = f"{a2d_height}x{a2d_width}"
        rows.append(("mp4 clip, sequential decode (A2D)", a2d_size, _rate(decode_mp4, frames, repeats), None))
        h5_files = {}
        for t in range(frames):
            h5_files[t] = root / "h5" / f"{t + 1:05d}.h5"
            write_h5_frame(h5_files[t], [1, 3], [clip_labels[t] == 1, clip_labels[t] == 2], [18, 77])
        h5 = H5InstanceMasks(h5_files, 3, (a2d_height, a2d_width))
        rows.append(("h5 instance masks (A2D)", a2d_size, _rate(lambda: h5(everything), frames, repeats), None))
        mat = root / "puppet_mask.mat"
        small = clip_labels[:, :240, :320] == 1
        scipy.io.savemat(str(mat), {"part_mask": small.transpose(1, 2, 0).astype(np.uint8)})
        rows.append(("puppet_mask.mat, whole video (JHMDB)", "240x320",
                     _rate(lambda: PuppetMasks(mat)(everything), frames, repeats), None))
        rows.append(_clip_row(root / "synth", clips, repeats))
    return rows


def _clip_row(cache: Path, clips: int, repeats: int) -> tuple[str, str, float, float | None]:
    from rvosbench.data import build_benchmark
    from rvosbench.data.clips import TrainClips
    from rvosbench.data.transforms import train_transform

    def clip_rate(decoder: str) -> float:
        bench = build_benchmark({"type": "synth", "root": str(cache), "split": "val", "progress": False,
                                 "decoder": decoder, "videos": {"val": 20}})
        dataset = TrainClips(bench, 5, train_transform({"short_side": 64, "max_size": 128}))
        count = min(clips, len(dataset))
        return _rate(lambda: [dataset[i] for i in range(count)], count * 5, repeats)

    return ("synth training clips (T=5, decode+augment)", "64x80", clip_rate("cv2"), clip_rate("pil"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rvosbench bench data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=30, help="frames per video (default 30)")
    parser.add_argument("--size", default="480x854", help="HxW of the JPEG/PNG/RLE videos (default 480x854)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs, best kept (default 3)")
    parser.add_argument("--clips", type=int, default=40, help="synth clips to time (default 40)")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    rows = run(args.frames, height, width, args.repeats, args.clips)
    print(f"decoding speed, one core, best of {args.repeats} ({args.frames}-frame videos)")
    print(f"{'format':<45}{'size':>9}{'frames/s':>11}{'PIL frames/s':>14}{'cv2/PIL':>9}")
    for name, size, rate, pil in rows:
        extra = f"{pil:>14.0f}{rate / pil:>9.2f}" if pil else f"{'':>14}{'':>9}"
        print(f"{name:<45}{size:>9}{rate:>11.0f}{extra}")
    return 0
