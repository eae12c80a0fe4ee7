"""``rvosbench bench attention``: decoupled vs coupled CMIE attention for T = 4, 8, 16, 32, side by side.

One CMIE stage of the card's ProxyFormer (default ``proxyformer_tiny``: its C, heads and N) runs on
random video tokens of an S×S clip (the backbone's stride 8/16/32 levels, L tokens per frame) with the
decoupled attention of the paper and with the coupled (full spatio-temporal) ablation. For every T it
prints, in one table:

* ``attn scores``: query-key pairs the stage's softmaxes span (counted from the shapes): decoupled
  T·L² + L·T² + 4·T·L·N + N·T² + T·N·W (spatial and temporal MHSA, P2V spatial and temporal,
  V2P spatial, V2P temporal's per-slot views and its attention along time, T2P), coupled
  (T·L)² + 2·T·N·T·L + T·N·W;
* measured FLOPs (``FlopCounterMode``), median forward latency, and the peak activation memory with the
  attention scores materialised (the math kernel, as eager/``need_weights`` attention does; flash
  kernels avoid storing them, but not their quadratic compute).

The growth columns divide by the T=4 value: linear growth gives ×2/×4/×8, quadratic ×4/×16/×64.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from rvosbench.core.plan import load_card
from rvosbench.models.costs import add_card_options, count_flops, math_attention, median_latency_ms, peak_memory
from rvosbench.models.layers import sine_encoding_2d
from rvosbench.models.proxyformer import CMIEStage, Geometry

STRIDES = (8, 16, 32)
WORDS = 8  # tokens of a short expression


def level_sizes(size: int) -> list[tuple[int, int]]:
    return [(max(1, size // s), max(1, size // s)) for s in STRIDES]


def attention_pairs(mode: str, T: int, L: int, N: int, W: int = WORDS) -> int:
    """Query-key pairs of one CMIE stage's attentions (per head, per clip)."""
    if mode == "coupled":
        return (T * L) ** 2 + 2 * (T * N) * (T * L) + T * N * W
    return T * L * L + L * T * T + 4 * T * L * N + N * T * T + T * N * W


def measure(mode: str, T: int, size: int, dim: int, heads: int, N: int, repeats: int) -> dict:
    torch.manual_seed(0)
    stage = CMIEStage(dim, heads, mode).eval()
    sizes = level_sizes(size)
    spatial = torch.cat([sine_encoding_2d(h, w, dim, torch.device("cpu")) for h, w in sizes])
    g = Geometry(1, T, N, spatial)
    video, proxies = torch.randn(1, T, g.L, dim), torch.randn(1, T, N, dim)
    words, word_pos, word_pad = torch.randn(1, WORDS, dim), torch.zeros(WORDS, dim), torch.zeros(1, WORDS, dtype=torch.bool)

    def run():
        with torch.no_grad():
            return stage(video, proxies, words, word_pos, word_pad, g)

    with math_attention(True), peak_memory(torch.device("cpu")) as peak:
        run()
    return {"mode": mode, "T": T, "L": g.L, "pairs": attention_pairs(mode, T, g.L, N),
            "flops": count_flops(run), "latency_ms": median_latency_ms(run, repeats),
            "peak_mem_mb": peak["bytes"] / 2**20}


def format_table(rows: list[dict]) -> str:
    by = {(r["mode"], r["T"]): r for r in rows}
    frames = sorted({r["T"] for r in rows})
    first = frames[0]
    header = (f"{'T':>3} {'L':>4} | {'attn scores dec/coup':>22} {'×':>6} | {'GFLOPs dec/coup':>17} {'×':>6} | "
              f"{'ms dec/coup':>15} {'×':>6} | {'MB dec/coup':>17} {'×':>6} | {'MB growth dec/coup':>18}")
    lines = [header, "-" * len(header)]
    for T in frames:
        d, c = by[("decoupled", T)], by[("coupled", T)]
        growth_d = d["peak_mem_mb"] / by[("decoupled", first)]["peak_mem_mb"]
        growth_c = c["peak_mem_mb"] / by[("coupled", first)]["peak_mem_mb"]
        lines.append(
            f"{T:>3} {d['L']:>4} | {d['pairs'] / 1e6:>9.2f}M/{c['pairs'] / 1e6:>10.2f}M {c['pairs'] / d['pairs']:>6.1f} | "
            f"{d['flops'] / 1e9:>7.3f}/{c['flops'] / 1e9:>9.3f} {c['flops'] / d['flops']:>6.1f} | "
            f"{d['latency_ms']:>6.1f}/{c['latency_ms']:>8.1f} {c['latency_ms'] / d['latency_ms']:>6.1f} | "
            f"{d['peak_mem_mb']:>7.1f}/{c['peak_mem_mb']:>9.1f} {c['peak_mem_mb'] / d['peak_mem_mb']:>6.1f} | "
            f"{'x' + format(growth_d, '.1f'):>8}/{'x' + format(growth_c, '.1f'):>9}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rvosbench bench attention", description=__doc__.splitlines()[0])
    add_card_options(parser, "C, heads and N")
    parser.add_argument("--frames", type=int, nargs="+", default=[4, 8, 16, 32], help="clip lengths T")
    parser.add_argument("--size", type=int, default=96, help="square frame side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (median)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_card(args.card, Path.cwd(), where="bench attention --card")["model"]
    dim, heads, N = int(model.get("hidden_dim", 256)), int(model.get("num_heads", 8)), int(model.get("num_proxies", 5))
    print(f"one CMIE stage of {args.card}: C={dim}, {heads} heads, N={N} proxies, {args.size}x{args.size} px "
          f"(L = {sum(h * w for h, w in level_sizes(args.size))} tokens/frame), batch 1, "
          f"{args.threads} thread{'s' if args.threads > 1 else ''}; ratios are coupled / decoupled")
    rows = [measure(mode, T, args.size, dim, heads, N, args.repeats)
            for T in args.frames for mode in ("decoupled", "coupled")]
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0
