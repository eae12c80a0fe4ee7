"""``rvosbench predict CARD --checkpoint CKPT --video FRAMES_OR_FILE --text "..." --out DIR``.

Segments the object a sentence refers to in your own video: per-frame masks plus an overlay animation.
A checkpoint from ``rvosbench run`` lives in ``runs/trainings/<key>/last.pt`` (``rvosbench report`` lists each
cell's training); its sha256 is checked against the ``done.json`` beside it, and a card's own checkpoint
against the card's ``checkpoint.sha256``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        name, parents=[common], help="segment your own video with a trained model",
        description="Write per-frame masks (masks/<frame>.png) and an overlay animation for one sentence.")
    parser.add_argument("card", help="model card name or file, e.g. proxyformer_tiny")
    parser.add_argument("--checkpoint", help="trained weights, e.g. runs/trainings/<key>/last.pt "
                                             "(default: the card's checkpoint.path, checked against its sha256)")
    parser.add_argument("--video", required=True, help="a folder of frames or a video file (mp4, avi, …)")
    parser.add_argument("--text", required=True, help='the referring sentence, e.g. "the red square moving left"')
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override keys of the card's model section (as in a study's model:)")
    parser.add_argument("--window", type=int, default=36, help="frames per inference window (default 36)")
    parser.add_argument("--max-frames", type=int, default=None, help="read at most this many frames")
    parser.add_argument("--stride", type=int, default=1, help="take every N-th frame (default 1)")
    parser.add_argument("--format", choices=["gif", "mp4"], default="gif", help="overlay animation type")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rvosbench.core.config import apply_overrides
    from rvosbench.core.errors import CheckpointError
    from rvosbench.core.plan import load_card
    from rvosbench.engine.catalog import load_catalog
    from rvosbench.engine.checkpoint import resolve_checkpoint
    from rvosbench.engine.distributed import init_distributed
    from rvosbench.engine.predict import predict_video, read_video, write_outputs
    from rvosbench.models import build_model
    from rvosbench.models.checkpoint import load_checkpoint

    load_catalog(args.plugin)
    loaded = load_card(args.card, None, where="card")
    model_config = apply_overrides(loaded["model"], args.overrides, source="--set")
    checkpoint, _ = resolve_checkpoint(loaded["card"], args.checkpoint)
    device = init_distributed().device
    model = build_model(model_config).to(device)
    if checkpoint:
        load_checkpoint(model, checkpoint)
    elif getattr(model, "trainable", True):
        raise CheckpointError(f"no checkpoint for {loaded['card']['name']}", where="--checkpoint",
                              hint="train one with rvosbench run (runs/trainings/<key>/last.pt)")
    video = read_video(args.video, args.max_frames, max(1, args.stride))
    started = time.perf_counter()
    prediction = predict_video(model, loaded["card"], video, args.text, args.window, device)
    seconds = time.perf_counter() - started
    info = write_outputs(Path(args.out), video, prediction, args.text, args.format)
    found = sum(1 for pixels in info["mask_pixels"] if pixels)
    print(f"{len(video.names)} frames in {seconds:.1f}s: object found in {found} frames; "
          f"masks in {Path(args.out) / 'masks'}, overlay {Path(args.out) / info['animation']}")
    return 0
