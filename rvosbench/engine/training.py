"""The training stage of a run: one training per (variant, seed), shared by every study that resolves to it.

A training lives in ``<store>/trainings/<train key>/`` where the key hashes the resolved model, card,
``train`` section, seed and the training split's fingerprint (:func:`rvosbench.core.store.train_store_key`).
A matching ``done.json`` means "trained": nothing is recomputed, whichever study asks (``all.yaml``
reuses what ``jsc.yaml`` trained). A changed config is another key and another folder, so reverting an
edit finds the earlier training again. An interrupted training resumes from ``last.pt``.

Models that cannot be trained (``trainable = False``) and ``train.steps: 0`` get no training: the card's
checkpoint (sha256-checked) is evaluated as it is, and their results are stored with ``source:
inference``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from rvosbench.core.atomic import atomic_write_text
from rvosbench.core.config import dump_yaml
from rvosbench.core.errors import ConfigError
from rvosbench.core.plan import Cell, Plan, resolve_benchmark
from rvosbench.core.registry import MODELS
from rvosbench.core.store import portable, read_jsonl, train_store_key
from rvosbench.engine.checkpoint import resolve_checkpoint
from rvosbench.engine.evaluation import EvalResult, ModelPredictor, run_evaluation
from rvosbench.engine.session import RunSession, eval_transform, format_seconds, input_config
from rvosbench.engine.settings import EvalSettings, TrainSettings
from rvosbench.engine.trainer import Trainer, read_done


@dataclass
class Trained:
    """A model ready for evaluation: in memory (just trained) or as a checkpoint on disk."""

    checkpoint: Path | None
    checkpoint_sha256: str | None
    train_seconds: float = 0.0
    model: nn.Module | None = None
    folder: Path | None = None  # the training's folder in the store; None for inference-only models
    source: str = "trained"  # the index's source: "trained", or "inference" when nothing was trained


def is_trained(cell: Cell) -> bool:
    """Whether the study trains this (variant, seed): a trainable model and ``train.steps`` > 0."""
    model_class, _ = MODELS.resolve(str(cell.config["model"]["type"]))
    steps = TrainSettings.from_config(cell.config.get("train")).steps
    return bool(getattr(model_class, "trainable", True)) and steps != 0


class TrainingStage:
    """Finds, resumes or runs the training of each training cell of a plan."""

    def __init__(self, session: RunSession, plan: Plan):
        self.session = session
        self.plan = plan

    def train(self, cell: Cell, label: str) -> Trained:
        """The trained model of ``cell``: found finished, resumed, trained, or the card's checkpoint."""
        session = self.session
        settings = TrainSettings.from_config(cell.config["train"])
        card = cell.config.get("card") or {}
        probe = session.build_model(cell.config["model"], cell.seed)
        if not is_trained(cell):
            return self._inference_only(probe, card, cell, settings)
        if settings.benchmark is None:
            raise ConfigError(f"variant '{cell.variant}' has no training data", where="train.benchmark",
                              hint="set train.benchmark (e.g. synth/train), or train.steps: 0 to evaluate the "
                                   "card's checkpoint")
        train_bench = session.benchmark(settings.benchmark)
        train_key = train_store_key(cell.config, train_bench.fingerprint())
        folder = session.store.train_dir(train_key)
        with session.exclusive(folder, f"training {cell.id}"):
            done = session.ctx.broadcast(read_done(folder, train_key) if session.is_main else None)
            if done is not None:
                session.echo(f"{label} {cell.id}: finished earlier ({done['steps']} steps, "
                             f"{format_seconds(done['seconds'])}), skipped; weights {folder / done['checkpoint']}")
                return Trained(folder / done["checkpoint"], done["checkpoint_sha256"], done["seconds"], folder=folder)
            if session.is_main:
                atomic_write_text(folder / "config.yaml", dump_yaml({
                    "train_key": train_key, "cell": cell.id, "study": self.plan.name, **portable(cell.config)}))
            done = self._trainer(probe, train_bench, settings, cell, folder, train_key, card, label).train()
        loss = _last_loss(folder)
        session.echo(f"{label} {cell.id}: {done['steps']} steps in {format_seconds(done['seconds'])}"
                     + (f", final loss {loss:.3f}" if loss is not None else "")
                     + (f" (resumed from the checkpoint of step {done['resumed_from']})"
                        if done.get("resumed_from") else "") + f"; weights {folder / done['checkpoint']}")
        return Trained(folder / done["checkpoint"], done["checkpoint_sha256"], done["seconds"], model=probe,
                       folder=folder)

    def _inference_only(self, model: nn.Module, card: Mapping[str, Any], cell: Cell,
                        settings: TrainSettings) -> Trained:
        """No training: the card's checkpoint (sha256-checked) as it is, or the model as built."""
        from rvosbench.models.checkpoint import load_checkpoint

        path, sha = resolve_checkpoint(card)
        if path is not None:
            load_checkpoint(model, path)
        why = "0 optimiser steps" if getattr(model, "trainable", True) else "an inference-only model"
        self.session.echo(f"[inference] {cell.id}: {why}, evaluated with "
                          + (f"the card's checkpoint {path.name}" if path else "the weights as built (no checkpoint)"))
        return Trained(path, sha, model=model, source="inference")

    def _trainer(self, model: nn.Module, bench: Any, settings: TrainSettings, cell: Cell, folder: Path,
                 train_key: str, card: Mapping[str, Any], label: str) -> Trainer:
        from rvosbench.data import transforms
        from rvosbench.data.clips import TrainClips, collate

        inputs = input_config(card, settings.input)
        num_frames = settings.num_frames or int(inputs.get("num_frames", 5))
        dataset = TrainClips(bench, num_frames=num_frames,
                             transform=transforms.train_transform(inputs, **settings.augment),
                             **{"seed": cell.seed, **settings.clips})
        validator = None
        if settings.val_every and settings.val_benchmark:
            validator = self._validator(settings, card, EvalSettings.from_config(cell.config.get("eval")))
        return Trainer(model, dataset, collate, settings, folder, train_key, cell.seed, self.session.ctx, validator,
                       description=f"{label} {cell.id}", meta={"variant": cell.variant, "study": self.plan.name})

    def _validator(self, settings: TrainSettings, card: Mapping[str, Any], eval_settings: EvalSettings
                   ) -> Callable[[nn.Module, int], dict]:
        session = self.session
        _, config = resolve_benchmark(settings.val_benchmark, self.plan.source.resolve().parent, "train.val_benchmark")
        bench = session.benchmark(config)
        samples = bench.sample_list()[: settings.val_limit] if settings.val_limit else bench.sample_list()
        evaluator, _ = session.protocol(bench)
        transform = eval_transform(card, eval_settings)

        def validate(model: nn.Module, step: int) -> dict[str, float]:  # the trainer sets train mode again
            predictor = ModelPredictor(model, transform, eval_settings.window, session.ctx.device,
                                       clips=eval_settings.clips)
            result = run_evaluation(predictor, samples, evaluator, session.ctx, desc=f"val @{step}")
            return {**result.metrics, **per_tag_metrics(result, bench.metrics[0])} if result is not None else {}

        return validate


def per_tag_metrics(result: EvalResult, metric: str) -> dict[str, float]:
    """``{'<metric>@<tag>': mean}`` per expression tag (e.g. ``J&F@motion``): per-type learning curves."""
    return {f"{metric}@{row['tags']}": float(row[metric]) for row in result.tables.get("per_tag", [])
            if metric in row}


def _last_loss(folder: Path) -> float | None:
    losses = [r["loss"] for r in read_jsonl(folder / "train_log.jsonl") if "loss" in r]
    return float(losses[-1]) if losses else None
