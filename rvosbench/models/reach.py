"""Which inputs reach which tensors of ProxyFormer, measured with gradients on one forward pass.

An ablation switch must change exactly the path its name says. Reading the code is not proof, so the
switch tests and ``rvosbench bench variants`` measure the paths instead: :func:`trace` runs the model
once with the input video tokens F^0 as a leaf tensor and keeps every stage's F^k and Q^k, and
:func:`path_report` asks autograd, for each stage and for the outputs, whether

* the proxies of stage k−1 reach stage k (proxies propagated through the stages);
* other frames reach a frame's proxies Q^k, video tokens F^k and output masks/scores;
* one stage lets a token see another frame at another position (full spatio-temporal attention:
  decoupled attention needs two stages for that, since its temporal attention is axial).

A gradient is exactly zero when no path exists (blocked attention keys get weight exactly 0), and
non-zero otherwise because the probe weights are random. The backbone runs frame by frame, so F^0
holds no cross-frame information to begin with.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

REACH_KEYS = ("stages chained", "proxies see other frames at stage 1", "proxies see other frames at stage K",
              "video sees other frames", "masks see other frames", "one attention spans frames x positions")


@dataclass
class Trace:
    """Tensors of one forward pass: F^0 (a leaf), then F^k and Q^k of every stage, and the outputs."""

    tokens: torch.Tensor
    videos: list[torch.Tensor] = field(default_factory=list)
    proxies: list[torch.Tensor] = field(default_factory=list)
    stage_inputs: list[torch.Tensor] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


def trace(model: nn.Module, batch: dict[str, Any]) -> Trace:
    """Run ``model`` (a ProxyFormer) on ``batch`` with gradients to its input tokens F^0."""
    found: dict[str, Any] = {"stages": []}

    def leaf_tokens(_module, _inputs, output):
        tokens = output[0].detach().requires_grad_(True)
        found["tokens"] = tokens
        return (tokens, *output[1:])

    hooks = [model.input_tokens.register_forward_hook(leaf_tokens)]
    hooks += [stage.register_forward_hook(lambda _m, _i, out: found["stages"].append(out)) for stage in model.stages]
    try:
        with torch.enable_grad():
            outputs = model(batch)
    finally:
        for hook in hooks:
            hook.remove()
    return Trace(tokens=found["tokens"], videos=[v for v, _ in found["stages"]],
                 proxies=[q for _, q in found["stages"]], stage_inputs=list(outputs["stage_inputs"]),
                 outputs=outputs)


def _probe(target: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A scalar that depends on every entry of ``target`` (random weights: a LayerNorm output's plain sum
    is constant)."""
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(target.shape, generator=generator, dtype=target.dtype).to(target.device)
    return (target * weights).sum()


def gradient(target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """d(random projection of ``target``)/d``source``; zeros when ``target`` does not use ``source``."""
    grad = torch.autograd.grad(_probe(target), source, retain_graph=True, allow_unused=True)[0]
    return torch.zeros_like(source) if grad is None else grad


def reaches(target: torch.Tensor, source: torch.Tensor) -> bool:
    return bool(gradient(target, source).abs().sum() > 0)


def other_frames_reach(target: torch.Tensor, source: torch.Tensor, frame: int = 0) -> bool:
    """Whether ``source`` (B, T, ...) at frames other than ``frame`` reaches ``target`` (B, T, ...) at ``frame``."""
    grad = gradient(target[:, frame], source)
    others = [t for t in range(source.shape[1]) if t != frame]
    return bool(grad[:, others].abs().sum() > 0)


def full_span_in_one_stage(t: Trace, frame: int = 0, position: int = 0) -> bool:
    """Whether F^1 at (frame, position) depends on F^0 at another frame *and* another position."""
    grad = gradient(t.videos[0][:, frame, position], t.tokens).abs().sum(-1)  # (B, T, L)
    elsewhere = torch.ones_like(grad, dtype=torch.bool)
    elsewhere[:, frame] = False
    elsewhere[:, :, position] = False
    return bool(grad[elsewhere].sum() > 0)


def stage_paths(t: Trace) -> list[dict[str, bool]]:
    """Per stage k (1-based order): does Q^{k-1} reach Q^k, do other frames reach Q^k and F^k."""
    rows = []
    for k, (video, proxies) in enumerate(zip(t.videos, t.proxies)):
        rows.append({"reads previous proxies": k > 0 and reaches(proxies, t.proxies[k - 1]),
                     "proxies see other frames": other_frames_reach(proxies, t.tokens),
                     "video sees other frames": other_frames_reach(video, t.tokens)})
    return rows


def output_paths(t: Trace, keys: Sequence[str] = ("pred_masks", "pred_logits")) -> dict[str, bool]:
    """Do other frames reach a frame's outputs?"""
    return {key: other_frames_reach(t.outputs[key], t.tokens) for key in keys if key in t.outputs}


def path_report(model: nn.Module, batch: dict[str, Any]) -> dict[str, bool]:
    """The summary ``rvosbench bench variants`` prints (keys: :data:`REACH_KEYS`)."""
    t = trace(model, batch)
    stages = stage_paths(t)
    outputs = output_paths(t)
    return {
        "stages chained": all(row["reads previous proxies"] for row in stages[1:]) and len(stages) > 1,
        "proxies see other frames at stage 1": stages[0]["proxies see other frames"],
        "proxies see other frames at stage K": stages[-1]["proxies see other frames"],
        "video sees other frames": stages[-1]["video sees other frames"],
        "masks see other frames": outputs["pred_masks"],
        "one attention spans frames x positions": full_span_in_one_stage(t),
    }
