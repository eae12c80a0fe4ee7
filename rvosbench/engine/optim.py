"""Optimiser and learning-rate schedule built from the study's ``train`` section.

AdamW with one parameter group per part of the model (``model.param_groups()``: ``backbone``,
``text_encoder``, ``rest``), each with its own learning rate, as ReferFormer trains (backbone 0.5×,
text encoder 0.1× of the base rate; paper.md §7). A group whose rate is 0 is frozen instead
(``requires_grad`` off), which also saves its backward pass. The schedule is a linear warm-up then
either a step decay at ``milestones`` (ReferFormer's recipe) or a cosine decay to ``min_lr_ratio``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rvosbench.core.errors import ConfigError

DEFAULT_GROUP_LR = {"backbone": 0.5, "text_encoder": 0.1, "rest": 1.0}


def build_optimizer(model: nn.Module, lr: float, weight_decay: float,
                    group_lr: Mapping[str, float] | None = None, betas: Sequence[float] = (0.9, 0.999)
                    ) -> torch.optim.AdamW:
    """AdamW over the model's parameter groups; ``group_lr`` holds multipliers of ``lr`` per group."""
    multipliers = {**DEFAULT_GROUP_LR, **dict(group_lr or {})}
    groups = model.param_groups() if hasattr(model, "param_groups") else {"rest": list(model.parameters())}
    unknown = set(multipliers) - set(groups) - set(DEFAULT_GROUP_LR)
    if unknown:
        raise ConfigError(f"unknown parameter group '{sorted(unknown)[0]}' in train.group_lr",
                          where="train.group_lr", hint=f"the model's groups are {sorted(groups)}")
    param_groups = []
    for name, params in groups.items():
        scale = float(multipliers.get(name, 1.0))
        params = [p for p in params if p.requires_grad]
        if scale == 0.0:
            for p in params:
                p.requires_grad_(False)
            continue
        if params:
            param_groups.append({"params": params, "lr": lr * scale, "name": name, "lr_scale": scale,
                                 "weight_decay": weight_decay})
    if not param_groups:
        raise ConfigError("the model has no trainable parameters", where="train.group_lr",
                          hint="give at least one group a non-zero learning rate")
    return torch.optim.AdamW(param_groups, lr=lr, weight_decay=weight_decay, betas=tuple(betas))


def lr_factor(step: int, total: int, warmup: int, schedule: str, milestones: Sequence[int] = (),
              gamma: float = 0.1, min_ratio: float = 0.0) -> float:
    """Multiplier of the base rate at optimiser ``step`` (0-based)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return gamma ** sum(step >= m for m in milestones)
    if schedule == "cosine":
        span = max(1, total - warmup)
        progress = min(1.0, (step - warmup) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ConfigError(f"unknown schedule '{schedule}'", where="train.schedule", hint="use cosine, step or constant")


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup: int, schedule: str,
                    milestones: Sequence[int] = (), gamma: float = 0.1, min_ratio: float = 0.0
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    lr_factor(warmup, total_steps, warmup, schedule, milestones, gamma, min_ratio)  # validates the name early
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup, schedule, milestones, gamma, min_ratio))


def current_lrs(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    return {f"lr/{g.get('name', i)}": g["lr"] for i, g in enumerate(optimizer.param_groups)}
