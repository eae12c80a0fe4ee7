"""The training loop (our own, small and explicit; mmengine's Runner cannot reload its checkpoints on
torch >= 2.6 nor launch on CPU, see environment.md).

One :class:`Trainer` trains one (variant, seed) into a folder::

    last.pt            latest checkpoint (model, optimiser, scheduler, step, RNG); atomic
    step_<n>.pt        numbered checkpoints (train.keep_checkpoints newest kept)
    train_log.jsonl    {step, loss, <loss terms>, lr, grad_norm, seconds} and {step, val/<metric>} lines
    done.json          written last: {train_key, steps, checkpoint_sha256, seconds}

Resume: when ``last.pt`` exists with the same ``train_key`` the loop continues from its step with the
optimiser, scheduler and RNG state restored and the data stream replayed from the same position
(:mod:`rvosbench.engine.sampling`), so an interrupted run ends where an uninterrupted one would. Log
lines after the resumed step (written after the last checkpoint) are dropped first.

A NaN or infinite loss or gradient norm raises :class:`TrainingDiverged` before the optimiser step, so
the last checkpoint on disk is the last good state.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from rvosbench.core.errors import ConfigError, TrainingDiverged
from rvosbench.core.hashing import file_sha256
from rvosbench.core.atomic import append_line, atomic_write_json, atomic_write_text, jsonl_text
from rvosbench.engine.checkpoint import LAST, prune_step_checkpoints, rng_state, save_checkpoint, set_rng_state
from rvosbench.engine.distributed import DistContext, bar_position
from rvosbench.engine.optim import build_optimizer, build_scheduler, current_lrs
from rvosbench.engine.sampling import SeededItems, StreamSampler, seed_all
from rvosbench.engine.settings import TrainSettings
from rvosbench.core.store import read_jsonl
from rvosbench.models.checkpoint import load_state_dict_into, model_state_dict, read_checkpoint, rebuilt_prefixes_of

DONE = "done.json"
LOG = "train_log.jsonl"

# validate(model, step) -> {metric: value}; run on every rank (evaluation is sharded), used on rank 0
Validator = Callable[[nn.Module, int], Mapping[str, float]]


def read_done(folder: Path, train_key: str) -> dict[str, Any] | None:
    """The ``done.json`` of a finished training for ``train_key`` whose checkpoint still exists."""
    try:
        done = json.loads((folder / DONE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if done.get("train_key") != train_key or not (folder / LAST).is_file():
        return None
    return done


def to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a (nested) batch to ``device``; strings and other values stay."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def split_batch(batch: Any) -> tuple[Any, Any]:
    """``(inputs, targets)`` from a collated batch: the data package's ``collate`` gives the pair; a
    single mapping serves as both."""
    if isinstance(batch, tuple) and len(batch) == 2:
        return batch
    return batch, batch


class LossStep(nn.Module):
    """``forward(inputs, targets)`` = the model's loss terms, so DDP sees every parameter use.

    Models compute some terms in ``loss`` with their own parameters (e.g. ProxyFormer's JSC projection);
    DistributedDataParallel only tracks parameters used inside the wrapped module's ``forward``, so the
    forward pass and the loss run together here.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: Any, targets: Any) -> dict[str, torch.Tensor]:
        return self.model.loss(self.model(inputs), targets)


class Trainer:
    """Trains ``model`` on ``dataset`` according to ``settings``; see the module docstring."""

    def __init__(self, model: nn.Module, dataset: Dataset, collate: Callable[[list[Any]], Any],
                 settings: TrainSettings, folder: Path, train_key: str, seed: int,
                 ctx: DistContext | None = None, validator: Validator | None = None,
                 description: str = "train", meta: Mapping[str, Any] | None = None):
        self.model = model
        self.dataset = dataset
        self.collate = collate
        self.settings = settings
        self.folder = Path(folder)
        self.train_key = train_key
        self.seed = seed
        self.ctx = ctx or DistContext()
        self.validator = validator
        self.description = description
        self.meta = dict(meta or {})
        self.optimizer = build_optimizer(model, settings.lr, settings.weight_decay, settings.group_lr)
        self.scheduler = build_scheduler(self.optimizer, settings.steps, settings.warmup, settings.schedule,
                                         settings.milestones, settings.gamma, settings.min_lr_ratio)
        self.step = 0
        self.elapsed = 0.0  # training seconds before this process (restored on resume)

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"step": self.step, "train_key": self.train_key, "model": model_state_dict(self.model),
                "rebuilt_prefixes": list(rebuilt_prefixes_of(self.model)),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": rng_state(), "meta": {**self.meta, "seed": self.seed, "elapsed_s": self.elapsed}}

    def save(self) -> None:
        """Checkpoint on rank 0 (every rank holds the same weights under DDP)."""
        if self.ctx.is_main:
            state = self.state()
            if self.settings.keep_checkpoints > 0:
                save_checkpoint(self.folder / f"step_{self.step}.pt", state)
            save_checkpoint(self.folder / LAST, state)
            prune_step_checkpoints(self.folder, self.settings.keep_checkpoints)
        self.ctx.barrier()

    def resume(self) -> bool:
        """Continue from ``last.pt`` when it belongs to this training; returns whether it did."""
        path = self.folder / LAST
        if not path.is_file():
            return False
        data = read_checkpoint(path)
        if data.get("train_key") != self.train_key:
            return False
        load_state_dict_into(self.model, data["model"], str(path), allow_missing=rebuilt_prefixes_of(self.model))
        self.optimizer.load_state_dict(data["optimizer"])
        self.scheduler.load_state_dict(data["scheduler"])
        self.step = int(data["step"])
        self.elapsed = float(data.get("meta", {}).get("elapsed_s", 0.0))
        set_rng_state(data["rng"])
        if self.ctx.is_main:  # forget log lines written after that checkpoint: they will be redone
            kept = [r for r in read_jsonl(self.folder / LOG) if int(r.get("step", 0)) <= self.step]
            atomic_write_text(self.folder / LOG, jsonl_text(kept))
        return True

    # -- loop ----------------------------------------------------------------------------------
    def _batches(self) -> Iterator[Any]:
        """The data stream of this rank: its share of each global batch of ``train.batch_size`` clips.

        The global batch is fixed by the config, so the number of processes changes the speed of a
        training, not what it computes (and not its key).
        """
        s = self.settings
        per_rank, rest = divmod(s.batch_size, self.ctx.world_size)
        if rest or not per_rank:
            raise ConfigError(f"train.batch_size={s.batch_size} cannot be split over {self.ctx.world_size} processes",
                              where="train.batch_size", hint="use a multiple of the number of processes")
        sampler = StreamSampler(len(self.dataset), per_rank, self.seed, start=self.step * s.accumulate,
                                rank=self.ctx.rank, world_size=self.ctx.world_size)
        loader = DataLoader(SeededItems(self.dataset), batch_sampler=sampler, collate_fn=self.collate,
                            num_workers=s.num_workers, persistent_workers=False,
                            pin_memory=self.ctx.device.type == "cuda")
        for batch in loader:
            yield to_device(batch, self.ctx.device)

    def _log(self, record: Mapping[str, Any]) -> None:
        if self.ctx.is_main:
            append_line(self.folder / LOG, json.dumps(record, default=float))

    def _diverged(self, what: str, value: float, terms: Mapping[str, float]) -> TrainingDiverged:
        detail = ", ".join(f"{k}={v:.4g}" for k, v in terms.items())
        kept = f"the last good checkpoint (step {self._last_saved}) is kept in {self.folder}" \
            if self._last_saved is not None else "no checkpoint was written yet"
        return TrainingDiverged(f"{what} became {value} at step {self.step + 1} ({detail}); {kept}",
                                where=self.description,
                                hint="lower train.lr, raise train.warmup or set train.clip_grad, then run again")

    def _step(self, net: nn.Module, batches: Iterator[Any], autocast: Any, params: list[nn.Parameter]
              ) -> tuple[dict[str, float], float]:
        """One optimiser step over ``accumulate`` micro-batches; returns the global batch's loss terms.

        Processes exchange one small tensor per step: the loss terms (averaged, for the log) and a
        non-finite flag, so every process takes the same decision to stop before the optimiser step.
        The gradient norm needs no exchange: DDP has already averaged the gradients.
        """
        s = self.settings
        self.optimizer.zero_grad(set_to_none=True)
        terms_sum: dict[str, float] = defaultdict(float)
        for micro in range(s.accumulate):
            inputs, targets = split_batch(next(batches))
            sync = net.no_sync() if self.ctx.enabled and micro < s.accumulate - 1 else contextlib.nullcontext()
            with sync:
                with autocast:
                    terms = net(inputs, targets)
                loss = sum(terms.values())
                (loss / s.accumulate).backward()
            for k, v in terms.items():
                terms_sum[k] += float(v.detach()) / s.accumulate
            terms_sum["loss"] += float(loss.detach()) / s.accumulate
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, s.clip_grad if s.clip_grad else float("inf")))
        names = sorted(terms_sum)
        values = [terms_sum[k] for k in names] + [0.0 if math.isfinite(terms_sum["loss"]) else 1.0]
        if self.ctx.enabled:
            values = self.ctx.all_reduce_mean(torch.tensor(values, dtype=torch.float64, device=self.ctx.device)).tolist()
        terms_sum = dict(zip(names, values))
        if values[-1] > 0:  # some process saw a non-finite loss
            raise self._diverged("the loss", terms_sum["loss"], terms_sum)
        if not math.isfinite(grad_norm):
            raise self._diverged("the gradient norm", grad_norm, terms_sum)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return terms_sum, grad_norm

    def train(self) -> dict[str, Any]:
        """Run (or finish) the training; returns the ``done.json`` content."""
        s = self.settings
        self.folder.mkdir(parents=True, exist_ok=True)
        seed_all(self.seed)
        if s.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        resumed = self.resume()
        self.resumed_from = self.step if resumed else None
        self._last_saved = self.resumed_from
        net: nn.Module = LossStep(self.model)
        if self.ctx.enabled:  # unused parameters exist, e.g. the JSC head of a variant that weights it 0
            net = DistributedDataParallel(net, device_ids=[self.ctx.local_rank] if self.ctx.device.type == "cuda"
                                          else None, find_unused_parameters=True)
        autocast = torch.autocast(self.ctx.device.type, dtype=torch.bfloat16) if s.precision == "bf16" \
            else contextlib.nullcontext()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        bar = tqdm(total=s.steps, initial=self.step, desc=self.description, unit="step", dynamic_ncols=True,
                   disable=not self.ctx.is_main, mininterval=1.0, leave=False, position=bar_position())
        batches = self._batches() if self.step < s.steps else iter(())
        window: dict[str, list[float]] = defaultdict(list)
        started = time.perf_counter()
        base_elapsed = self.elapsed
        try:
            while self.step < s.steps:
                net.train()
                terms_sum, grad_norm = self._step(net, batches, autocast, params)
                self.elapsed = base_elapsed + time.perf_counter() - started
                for k, v in terms_sum.items():
                    window[k].append(v)
                window["grad_norm"].append(grad_norm)
                bar.update(1)
                bar.set_postfix(loss=f"{terms_sum['loss']:.3f}", refresh=False)
                if self.step % s.log_every == 0 or self.step == s.steps:
                    self._log({"step": self.step, **{k: sum(v) / len(v) for k, v in window.items()},
                               **current_lrs(self.optimizer), "seconds": round(self.elapsed, 2)})
                    window.clear()
                if self.step % s.checkpoint_every == 0 or self.step == s.steps:
                    self.save()
                    self._last_saved = self.step
                if self.validator is not None and s.val_every and (self.step % s.val_every == 0
                                                                    or self.step == s.steps):
                    metrics = self.validator(self.model, self.step)
                    self._log({"step": self.step, **{f"val/{k}": v for k, v in metrics.items()}})
                    bar.set_postfix(loss=f"{terms_sum['loss']:.3f}",
                                    **{f"val {k}": f"{v:.3f}" for k, v in list(metrics.items())[:1]})
        except KeyboardInterrupt:
            if not self.ctx.enabled and self._last_saved != self.step:  # Ctrl-C: keep the work done so far
                self.save()
            raise
        finally:
            bar.close()
        if self._last_saved != self.step:  # a zero-step training still leaves its (initial) checkpoint
            self.save()
        done = {"train_key": self.train_key, "steps": self.step, "seconds": round(self.elapsed, 2),
                "checkpoint": LAST, "checkpoint_sha256": None, "resumed_from": self.resumed_from}
        if self.ctx.is_main:
            done["checkpoint_sha256"] = file_sha256(self.folder / LAST)
            atomic_write_json(self.folder / DONE, done)
        return self.ctx.broadcast(done)
