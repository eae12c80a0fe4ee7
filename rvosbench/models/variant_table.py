"""``rvosbench bench variants``: what each ProxyFormer variant changes, measured, in one table.

For every registered ``proxyformer*`` variant built at a card's size (default ``proxyformer_tiny``):

* parameters: trainable, and those of the K CMIE stages, with the difference to ProxyFormer;
* inference GFLOPs of one clip at the card's frame count and at ``--long`` frames
  (:func:`~rvosbench.models.costs.count_flops`, the engine's counter);
* which paths exist, measured with gradients (:mod:`rvosbench.models.reach`): stages chained (stage k
  reads Q^{k-1}); other frames reach a frame's proxies at stage 1 and at stage K, its video tokens F^K
  and its output masks; one attention spans frames × positions;
* whether the JSC loss is trained.

docs/models.md includes its output (``--markdown``); the switch tests assert the same paths.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from rvosbench.core.plan import load_card
from rvosbench.core.registry import MODELS
from rvosbench.models import build_model
from rvosbench.models.speed import synthetic_clip
from rvosbench.models.costs import add_card_options, count_flops, count_params
from rvosbench.models.reach import REACH_KEYS, path_report

SHORT = {"stages chained": "chained", "proxies see other frames at stage 1": "Q¹ ← frames",
         "proxies see other frames at stage K": "Q^K ← frames", "video sees other frames": "F^K ← frames",
         "masks see other frames": "masks ← frames", "one attention spans frames x positions": "full span"}


def variant_names() -> list[str]:
    return [name for name, _ in MODELS.list("proxyformer*")]


def measure(model_config: dict[str, Any], variant: str, frames: int, long: int, size: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_model({**model_config, "type": variant}).eval()
    params = count_params(model)
    cmie = sum(p.numel() for n, p in model.named_parameters() if n.startswith("stages."))
    flops = {}
    for T in (frames, long):
        batch, _ = synthetic_clip(1, T, size, torch.device("cpu"))
        flops[T] = count_flops(lambda b=batch: model(b))  # noqa: B023 (called at once)
    batch, _ = synthetic_clip(1, frames, size, torch.device("cpu"))
    paths = path_report(model, batch)
    return {"variant": variant, "trainable": params["trainable"], "cmie": cmie, "flops": flops,
            "paths": paths, "jsc": getattr(model, "jsc", None) is not None}


def format_table(rows: list[dict[str, Any]], frames: int, long: int, size: int) -> str:
    base = next((r for r in rows if r["variant"] == "proxyformer"), rows[0])
    header = (["variant", "trainable params", "CMIE params (Δ)", f"GFLOPs T={frames}", f"GFLOPs T={long}"]
              + [SHORT[k] for k in REACH_KEYS] + ["JSC"])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for r in rows:
        delta = r["cmie"] - base["cmie"]
        change = "=" if delta == 0 else f"{delta / base['cmie']:+.0%}"
        cells = [f"`{r['variant']}`", f"{r['trainable'] / 1e6:.3f} M", f"{r['cmie'] / 1e6:.3f} M ({change})",
                 f"{r['flops'][frames] / 1e9:.3f}", f"{r['flops'][long] / 1e9:.3f}"]
        cells += ["yes" if r["paths"][k] else "no" for k in REACH_KEYS] + ["yes" if r["jsc"] else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rvosbench bench variants", description=__doc__.splitlines()[0])
    add_card_options(parser, "the sizes")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default: the card's)")
    parser.add_argument("--long", type=int, default=16, help="a longer clip for the FLOPs growth column")
    parser.add_argument("--size", type=int, default=None, help="square input side (default: the card's short side)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load_card(args.card, Path.cwd(), where="bench variants --card")
    card_input = loaded["card"].get("input", {})
    frames = args.frames or int(card_input.get("num_frames", 5))
    size = args.size or int(card_input.get("short_side", 96))
    rows = [measure(dict(loaded["model"]), name, frames, args.long, size) for name in variant_names()]
    print(f"ProxyFormer variants at {loaded['card']['name']}'s size: one clip of {size}x{size} px; paths measured "
          f"with gradients (rvosbench.models.reach); '← frames': other frames reach a frame's tensor")
    print(format_table(rows, frames, args.long, size))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0
