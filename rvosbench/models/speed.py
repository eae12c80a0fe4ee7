"""``rvosbench bench model CARD [--frames T --size S]``: parameters, FLOPs, latency and memory per clip.

Everything is measured in one run on this machine (nothing is looked up): inference on one clip of
T frames at S×S pixels, plus one training step (forward + loss + backward) on a batch of such clips.
:func:`model_cost` is the same measurement as a function, for the engine's ``cost`` records.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from rvosbench.core.plan import load_card
from rvosbench.models import build_model
from rvosbench.models.base import RVOSModel
from rvosbench.models.costs import count_flops, count_params, median_latency_ms, peak_memory


def synthetic_clip(batch: int, frames: int, size: int, device: torch.device) -> tuple[dict, dict]:
    """A random normalised clip and targets with a square object in the middle (shapes are what matter)."""
    masks = torch.zeros(batch, frames, size, size, dtype=torch.bool, device=device)
    masks[..., size // 4: size // 2, size // 3: 2 * size // 3] = True
    boxes = torch.tensor([0.5, 0.375, 1 / 3, 0.25], device=device).repeat(batch, frames, 1)
    texts = ["the red circle moving left", "a small blue square below the star"]
    return ({"frames": torch.randn(batch, frames, 3, size, size, device=device),
             "text": [texts[i % 2] for i in range(batch)]},
            {"masks": masks, "valid": torch.ones(batch, frames, dtype=torch.bool, device=device), "boxes": boxes})


def model_cost(model: RVOSModel, frames: int, size: int, repeats: int = 5, train_batch: int = 0,
               device: torch.device | None = None) -> dict[str, Any]:
    """Params, inference FLOPs/latency/peak memory on one clip, and optionally a training step's time."""
    device = device or next(model.parameters()).device
    batch, targets = synthetic_clip(1, frames, size, device)
    model.eval()

    def infer():
        with torch.no_grad():
            return model(batch)

    cost: dict[str, Any] = {"params": count_params(model), "frames": frames, "size": size}
    cost["flops"] = count_flops(infer)
    cost["latency_ms"] = median_latency_ms(infer, repeats, device=device)
    with peak_memory(device) as peak:
        infer()
    cost["peak_mem_mb"] = peak["bytes"] / 2**20
    if train_batch and model.trainable:
        train_inputs, train_targets = synthetic_clip(train_batch, frames, size, device)

        def step():
            model.zero_grad(set_to_none=True)
            sum(model.loss(model(train_inputs), train_targets).values()).backward()

        model.train()
        cost["train_step_ms"] = median_latency_ms(step, repeats, device=device)
        cost["train_batch"] = train_batch
        model.zero_grad(set_to_none=True)
        model.eval()
    return cost


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f} M"


def format_cost(name: str, model_type: str, cost: dict[str, Any], threads: int, device: torch.device) -> str:
    p = cost["params"]
    lines = [
        f"model            {name} ({model_type})",
        f"input            1 clip x {cost['frames']} frames x 3x{cost['size']}x{cost['size']} on {device}"
        + (f" ({threads} thread{'s' if threads > 1 else ''})" if device.type == "cpu" else ""),
        f"params           {_millions(p['total'])} total, {_millions(p['trainable'])} trainable "
        f"(backbone {_millions(p['backbone'])}, text encoder {_millions(p['text_encoder'])}, "
        f"rest {_millions(p['rest'])})",
        f"FLOPs / clip     {cost['flops'] / 1e9:.3f} GFLOPs (inference forward)",
        f"latency / clip   {cost['latency_ms']:.1f} ms (median; {cost['latency_ms'] / cost['frames']:.1f} ms/frame)",
        f"peak memory      {cost['peak_mem_mb']:.1f} MB (live activations during inference, weights excluded)",
    ]
    if "train_step_ms" in cost:
        lines.append(f"train step       {cost['train_step_ms']:.1f} ms (forward + loss + backward, "
                     f"batch {cost['train_batch']} x {cost['frames']} frames)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rvosbench bench model", description=__doc__.splitlines()[0])
    parser.add_argument("card", help="model card name or path (e.g. proxyformer_tiny, models/mttr_tiny.yaml)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default: the card's)")
    parser.add_argument("--size", type=int, default=None, help="square input side (default: the card's short side)")
    parser.add_argument("--train-batch", type=int, default=4, help="clips in the timed training step (0: skip)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median reported)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    loaded = load_card(args.card, Path.cwd(), where="bench model CARD")
    card = loaded["card"]
    frames = args.frames or int(card.get("input", {}).get("num_frames", 5))
    size = args.size or int(card.get("input", {}).get("short_side", 96))
    device = torch.device(args.device)
    model = build_model(loaded["model"]).to(device)
    cost = model_cost(model, frames, size, args.repeats, args.train_batch, device)
    print(format_cost(card["name"], loaded["model"]["type"], cost, args.threads, device))
    if args.json:
        args.json.write_text(json.dumps({"card": card["name"], "device": str(device), "threads": args.threads,
                                         **cost}, indent=2))
    return 0
