"""The ``train:`` and ``eval:`` sections of a study, with defaults and did-you-mean key checks.

Defaults follow ReferFormer's recipe where it applies (AdamW, backbone 0.5× and text encoder 0.1× of the
base rate, gradient clipping 0.1; paper.md §7); the study files set what the CPU budget needs.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.data.clips import EVAL_CLIPS


def _from_mapping(cls: type, data: Mapping[str, Any] | None, section: str) -> Any:
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(f"unknown key '{section}.{key}'", where=f"{section}.{key}",
                              hint=did_you_mean(key, names))
    try:
        return cls(**data)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"bad '{section}' section: {error}", where=section) from error


@dataclass
class TrainSettings:
    """How one (variant, seed) is trained. Steps count optimiser updates."""

    benchmark: Any = None  # the training split, resolved by the plan (e.g. synth/train)
    steps: int = 1000
    batch_size: int = 2  # clips per optimiser micro-batch over all processes (split evenly across them)
    accumulate: int = 1  # micro-batches per optimiser step
    num_frames: int | None = None  # clip length; default: the card's input.num_frames
    lr: float = 1e-4
    group_lr: dict[str, float] = field(default_factory=dict)  # multipliers per parameter group
    weight_decay: float = 5e-4
    warmup: int = 0
    schedule: str = "cosine"  # cosine | step | constant
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    min_lr_ratio: float = 0.0
    clip_grad: float | None = 0.1  # max gradient norm; null turns clipping off
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    num_workers: int = 0
    clips: dict[str, Any] = field(default_factory=dict)  # extra TrainClips options (sampling)
    augment: dict[str, Any] = field(default_factory=dict)  # extra training transform options
    input: dict[str, Any] = field(default_factory=dict)  # overrides of the card's input section
    checkpoint_every: int = 200
    keep_checkpoints: int = 1  # numbered step_<n>.pt files kept next to last.pt
    log_every: int = 10
    val_every: int = 0  # 0: no periodic validation
    val_benchmark: Any = None  # e.g. synth/val
    val_limit: int | None = 32  # validation samples (null: all)
    deterministic: bool = False  # torch.use_deterministic_algorithms (slower)

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.accumulate < 1:
            raise ValueError("steps must be >= 0, batch_size and accumulate >= 1")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> TrainSettings:
        return _from_mapping(cls, data, "train")


@dataclass
class EvalSettings:
    """How a trained model is evaluated on a benchmark."""

    window: int | None = 36  # frames per inference window for long videos (null: whole video)
    clips: str = "consecutive"  # consecutive windows | centred: one window per annotated frame (MTTR's A2D/JHMDB)
    threshold: float = 0.5
    input: dict[str, Any] = field(default_factory=dict)  # overrides of the card's input section
    limit: int | None = None  # evaluate the first N samples only (smoke tests)
    save_predictions: bool = False  # masks in the benchmark's native layout inside the cell
    strips: int = 3  # qualitative strips kept: the first N and the worst N samples
    strip_frames: int = 6
    measure_cost: bool = True  # params, FLOPs and latency of one window (cost.jsonl)
    scaling: list[int] = field(default_factory=list)  # frame counts for scaling.jsonl (attention study)
    scaling_limit: int = 16  # samples used per scaling point

    def __post_init__(self) -> None:
        if self.window is not None and self.window < 1:
            raise ValueError("window must be >= 1 or null")
        if self.clips not in EVAL_CLIPS:
            raise ValueError(f"clips must be one of {', '.join(EVAL_CLIPS)}, got {self.clips!r}")
        if self.clips == "centred" and self.window is None:
            raise ValueError("clips: centred needs window (the length of the window centred on each annotated frame)")

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> EvalSettings:
        return _from_mapping(cls, data, "eval")
