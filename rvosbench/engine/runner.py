"""``rvosbench run``: train every (variant, seed) of a study once, evaluate it on every benchmark, store
each finished cell, and print the comparison table.

Order of work: for each training cell, train (or find the finished training, or resume it), then
evaluate it on each benchmark; finished evaluation cells are found by their store key and skipped.
Changing one variant changes only its cells' keys, so only they run again. After all cells, the trivial
baselines are scored on each benchmark (cached the same way), the table is printed and the report is
written when the reports package is installed.

Training folders are ``<out>/<study>/train/<variant>-s<seed>/``. When a variant's training config
changes, the old folder is moved to ``train/.previous/<variant>-s<seed>@<old key>/`` rather than
deleted, and moved back if the config returns to it: reverting an edit costs nothing.

Under torchrun every rank runs this same code; rank 0 decides what is finished (and broadcasts it),
holds the locks, writes the store and prints.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from filelock import Timeout
from torch import nn
from tqdm import tqdm

from rvosbench.core.config import dump_yaml
from rvosbench.core.errors import CheckpointError, ConfigError
from rvosbench.core.hashing import file_sha256, stable_hash
from rvosbench.core.plan import Cell, Plan, resolve_benchmark
from rvosbench.core.registry import PROTOCOLS, deep_merge
from rvosbench.engine import baselines as trivial
from rvosbench.core.atomic import atomic_write_text, jsonl_text
from rvosbench.engine.catalog import load_catalog
from rvosbench.engine.cost import scaling_points, window_flops
from rvosbench.engine.distributed import DistContext, init_distributed
from rvosbench.engine.evaluation import EvalResult, ModelPredictor, Predictor, run_evaluation
from rvosbench.engine.sampling import seed_all
from rvosbench.engine.settings import EvalSettings, TrainSettings
from rvosbench.engine.store import (ResultStore, environment, now, portable, read_jsonl, store_key,
                                    train_store_key)
from rvosbench.engine.table import format_table
from rvosbench.engine.trainer import Trainer, read_done
from rvosbench.models.costs import count_params, peak_memory_mb, reset_peak_memory

PREVIOUS = ".previous"
WORK_PREFIX = ".work-"  # a cell's files written while it is evaluated (saved predictions)


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def metric_line(metrics: Mapping[str, float], names: Sequence[str]) -> str:
    return "  ".join(f"{name} {100 * metrics[name]:.1f}" for name in names if name in metrics)


@dataclass
class Trained:
    """A model ready for evaluation: in memory (just trained) or as a checkpoint on disk."""

    checkpoint: Path | None
    checkpoint_sha256: str | None
    train_seconds: float = 0.0
    model: nn.Module | None = None


@dataclass
class Outcome:
    """What a run produced (rank 0): every evaluation summary of the plan, baselines and the table."""

    study_dir: Path
    summaries: list[dict[str, Any]] = field(default_factory=list)
    baselines: list[dict[str, Any]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # cell ids computed in this run
    skipped: list[str] = field(default_factory=list)  # cell ids found finished
    table: str = ""
    report: list[Path] = field(default_factory=list)


def input_config(card: Mapping[str, Any], *overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The card's ``input`` section with the study's overrides (e.g. a smaller short side)."""
    config = dict(card.get("input") or {})
    for override in overrides:
        config = deep_merge(config, override or {})
    return config


def per_tag_metrics(result: EvalResult, metric: str) -> dict[str, float]:
    """``{'<metric>@<tag>': mean}`` per expression tag (e.g. ``J&F@motion``): per-type learning curves."""
    return {f"{metric}@{row['tags']}": float(row[metric]) for row in result.tables.get("per_tag", [])
            if metric in row}


class StudyRunner:
    """Runs one plan against one result store; see the module docstring."""

    def __init__(self, plan: Plan, out: str | Path = "runs", only: str | None = None,
                 ctx: DistContext | None = None, echo: Callable[[str], None] | None = None,
                 baselines: Sequence[str] = tuple(trivial.BASELINES), report: bool = True, table: bool = True):
        self.plan = plan
        self.selected = plan.filtered(only)
        self.store = ResultStore(out)
        self.ctx = ctx or init_distributed()
        self._echo = echo or tqdm.write
        self.baseline_names = list(baselines)
        self.write_report_at_end = report
        self.print_table = table  # off in the jobs of ``run --jobs``: their caller prints the whole table
        self.study_dir = self.store.study_dir(plan.name)
        self._benchmarks: dict[str, Any] = {}

    # -- small helpers -------------------------------------------------------------------------
    def echo(self, text: str) -> None:
        if self.ctx.is_main:
            self._echo(text)

    def benchmark(self, config: Mapping[str, Any]) -> Any:
        """Build (once per run) the benchmark a resolved config describes."""
        from rvosbench.data import build_benchmark

        cache_key = stable_hash(dict(config))
        if cache_key not in self._benchmarks:
            bench = build_benchmark(dict(config))
            if self.ctx.is_main:  # validates (and generates synth) once, before other ranks read it
                bench.sample_list()
            self.ctx.barrier()
            self._benchmarks[cache_key] = bench
        return self._benchmarks[cache_key]

    def build_model(self, model_config: Mapping[str, Any], seed: int) -> nn.Module:
        from rvosbench.models import build_model

        seed_all(seed)  # identical initial weights on every rank and in every rerun
        return build_model(dict(model_config)).to(self.ctx.device)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> Outcome:
        load_catalog(self.plan.plugins)
        outcome = Outcome(self.study_dir)
        if self.ctx.is_main:
            self._write_plan()
        wanted = {c.key for c in self.selected.eval_cells}
        needed = {c.train_key for c in self.selected.eval_cells} | {c.key for c in self.selected.train_cells}
        train_cells = [c for c in self.plan.train_cells if c.key in needed]
        for number, cell in enumerate(train_cells, 1):
            trained: Trained | None = None
            for eval_cell in [c for c in self.plan.eval_cells if c.train_key == cell.key and c.key in wanted]:
                trained = trained or self.train(cell, f"[train {number}/{len(train_cells)}]")
                self.evaluate(eval_cell, trained, outcome)
            if trained is None:
                self.train(cell, f"[train {number}/{len(train_cells)}]")
        if self.ctx.is_main:
            outcome.summaries = self._plan_summaries()
            self._write_study_measurements()
        outcome.baselines = self.score_baselines()
        if self.ctx.is_main and self.print_table:
            outcome.table = self.table(outcome)
            self.echo("\n" + outcome.table)
        if self.ctx.is_main:
            outcome.report = self.write_report() if self.write_report_at_end else []
        return outcome

    def _write_plan(self) -> None:
        cells = [{"id": c.id, "kind": c.kind, "key": c.key, "variant": c.variant, "seed": c.seed,
                  **({"benchmark": c.benchmark} if c.benchmark else {})}
                 for c in (*self.plan.train_cells, *self.plan.eval_cells)]
        document = {**{k: v for k, v in self.plan.config.items() if k != "_base_"}, "name": self.plan.name,
                    "title": self.plan.title, "baseline": self.plan.baseline, "seeds": self.plan.seeds,
                    "source": str(self.plan.source), "cells": cells}
        atomic_write_text(self.study_dir / "plan.yaml", dump_yaml(document))

    # -- training ------------------------------------------------------------------------------
    def _exclusive(self, path: Path, what: str):
        """The lock of ``path`` on rank 0 (saying so when another run holds it)."""
        lock = self.store.lock(path)
        if not self.ctx.is_main:
            return _NoLock()
        try:
            lock.acquire(timeout=0)
        except Timeout:
            self.echo(f"waiting for another run that holds {what} ({lock.lock_file})")
            lock.acquire()
        return _Held(lock)

    def _claim_train_dir(self, folder: Path, train_key: str) -> None:
        """Make ``folder`` hold this training's files: archive another config's, restore our own."""
        config = folder / "config.yaml"
        if folder.exists():
            try:
                current = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("train_key")
            except (OSError, yaml.YAMLError):
                current = None
            if current == train_key:
                return
            if current is None and not any(folder.iterdir()):
                return
            archive = folder.parent / PREVIOUS / f"{folder.name}@{current or 'unknown'}"
            shutil.rmtree(archive, ignore_errors=True)
            archive.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder, archive)
        previous = folder.parent / PREVIOUS / f"{folder.name}@{train_key}"
        if previous.is_dir():
            os.replace(previous, folder)

    def train(self, cell: Cell, label: str) -> Trained:
        """Train ``cell`` unless it is finished; returns the model or its checkpoint."""
        settings = TrainSettings.from_config(cell.config["train"])
        model_config = cell.config["model"]
        card = cell.config.get("card") or {}
        probe = self.build_model(model_config, cell.seed)
        if not getattr(probe, "trainable", True) or settings.steps == 0:
            return self._untrained(probe, card, cell)
        if settings.benchmark is None:
            raise ConfigError(f"variant '{cell.variant}' has no training data", where="train.benchmark",
                              hint="set train.benchmark (e.g. synth/train), or train.steps: 0 to evaluate the "
                                   "card's checkpoint")
        train_bench = self.benchmark(settings.benchmark)
        train_key = train_store_key(cell.config, train_bench.fingerprint())
        folder = self.store.train_dir(self.plan.name, cell.id)
        with self._exclusive(folder, f"training {cell.id}"):
            decision = None
            if self.ctx.is_main:
                self._claim_train_dir(folder, train_key)
                decision = read_done(folder, train_key)
            done = self.ctx.broadcast(decision)
            if done is not None:
                self.echo(f"{label} {cell.id}: finished earlier ({done['steps']} steps, "
                          f"{format_seconds(done['seconds'])}), skipped")
                return Trained(folder / done["checkpoint"], done["checkpoint_sha256"], done["seconds"])
            if self.ctx.is_main:
                atomic_write_text(folder / "config.yaml", dump_yaml({"train_key": train_key, "cell": cell.id,
                                                                     **portable(cell.config)}))
            trainer = self._trainer(probe, train_bench, settings, cell, folder, train_key, card, label)
            done = trainer.train()
        loss = self._last_loss(folder)
        self.echo(f"{label} {cell.id}: {done['steps']} steps in {format_seconds(done['seconds'])}"
                  + (f", final loss {loss:.3f}" if loss is not None else "")
                  + (f" (resumed from the checkpoint of step {done['resumed_from']})" if done.get("resumed_from") else ""))
        return Trained(folder / done["checkpoint"], done["checkpoint_sha256"], done["seconds"], model=probe)

    def _untrained(self, model: nn.Module, card: Mapping[str, Any], cell: Cell) -> Trained:
        """An inference-only model, or ``train.steps: 0``: the card's checkpoint (if any) as it is."""
        from rvosbench.models.checkpoint import load_checkpoint as load_weights

        spec = card.get("checkpoint") or {}
        path = spec.get("path") if isinstance(spec, Mapping) else spec
        if not path:
            return Trained(None, None, model=model)
        path = Path(str(path)).expanduser()
        if not path.is_absolute() and card.get("file"):
            path = Path(card["file"]).parent.parent / path
        sha = file_sha256(path) if path.is_file() else None
        expected = spec.get("sha256") if isinstance(spec, Mapping) else None
        if sha and expected and sha != expected:
            raise CheckpointError(f"checkpoint sha256 {sha[:12]}… differs from the card's {str(expected)[:12]}…",
                                  where=str(path), hint="download the checkpoint again, or fix the card")
        load_weights(model, path)
        return Trained(path, sha, model=model)

    def _trainer(self, model: nn.Module, bench: Any, settings: TrainSettings, cell: Cell, folder: Path,
                 train_key: str, card: Mapping[str, Any], label: str) -> Trainer:
        from rvosbench.data import transforms
        from rvosbench.data.clips import TrainClips, collate

        inputs = input_config(card, settings.input)
        num_frames = settings.num_frames or int(inputs.get("num_frames", 5))
        dataset = TrainClips(bench, num_frames=num_frames, transform=transforms.train_transform(inputs, **settings.augment),
                             **{"seed": cell.seed, **settings.clips})
        validator = None
        if settings.val_every and settings.val_benchmark:
            validator = self._validator(settings, card, EvalSettings.from_config(cell.config.get("eval")))
        return Trainer(model, dataset, collate, settings, folder, train_key, cell.seed, self.ctx, validator,
                       description=f"{label} {cell.id}", meta={"variant": cell.variant, "study": self.plan.name})

    def _validator(self, settings: TrainSettings, card: Mapping[str, Any], eval_settings: EvalSettings
                   ) -> Callable[[nn.Module, int], dict]:
        _, config = resolve_benchmark(settings.val_benchmark, self.plan.source.resolve().parent, "train.val_benchmark")
        bench = self.benchmark(config)
        samples = bench.sample_list()[: settings.val_limit] if settings.val_limit else bench.sample_list()
        evaluator = PROTOCOLS.build_from({"type": bench.protocol})
        transform = self._eval_transform(card, eval_settings)

        def validate(model: nn.Module, step: int) -> dict[str, float]:  # the trainer sets train mode again
            predictor = ModelPredictor(model, transform, eval_settings.window, self.ctx.device)
            result = run_evaluation(predictor, samples, evaluator, self.ctx, desc=f"val @{step}")
            return {**result.metrics, **per_tag_metrics(result, bench.metrics[0])} if result is not None else {}

        return validate

    @staticmethod
    def _last_loss(folder: Path) -> float | None:
        losses = [r["loss"] for r in read_jsonl(folder / "train_log.jsonl") if "loss" in r]
        return float(losses[-1]) if losses else None

    # -- evaluation ----------------------------------------------------------------------------
    @staticmethod
    def _eval_transform(card: Mapping[str, Any], settings: EvalSettings) -> Callable:
        from rvosbench.data import transforms

        return transforms.eval_transform(input_config(card, settings.input))

    def evaluate(self, cell: Cell, trained: Trained, outcome: Outcome) -> dict[str, Any] | None:
        """Evaluate one cell unless the store holds its result; publish it on rank 0."""
        settings = EvalSettings.from_config(cell.config.get("eval"))
        bench = self.benchmark(cell.config["benchmark"])
        evaluator = PROTOCOLS.build_from({"type": bench.protocol})
        metric_version = str(getattr(evaluator, "metric_version", "1"))
        fingerprint = bench.fingerprint()
        key = store_key(cell.config, trained.checkpoint_sha256, fingerprint, metric_version)
        cell_dir = self.store.cell_dir(self.plan.name, cell.id)
        label = f"[eval] {cell.id}"
        with self._exclusive(cell_dir, f"cell {cell.id}"):
            found = self.store.finished(cell_dir, key) if self.ctx.is_main else None
            if self.ctx.broadcast(found is not None):
                if self.ctx.is_main:
                    self.store.index(found, cell_dir)
                    outcome.skipped.append(cell.id)
                    self.echo(f"{label}: {metric_line(found['metrics'], bench.metrics[:3])} (stored earlier)")
                return found
            model = trained.model
            if model is None:
                from rvosbench.models.checkpoint import load_checkpoint as load_weights

                model = self.build_model(cell.config["model"], cell.seed)
                load_weights(model, trained.checkpoint)
                trained.model = model
            transform = self._eval_transform(cell.config.get("card") or {}, settings)
            predictor = ModelPredictor(model, transform, settings.window, self.ctx.device, settings.threshold)
            samples = bench.sample_list()
            if settings.limit:
                samples = samples[: settings.limit]
            reset_peak_memory(self.ctx.device)
            writer = self._prediction_writer(cell_dir, bench) if settings.save_predictions and self.ctx.is_main \
                else None
            try:
                result = run_evaluation(predictor, samples, evaluator, self.ctx, desc=label, strips=settings.strips,
                                        strip_frames=settings.strip_frames, strip_metric=bench.metrics[0],
                                        sink=writer)
            finally:
                if writer is not None:
                    writer.__exit__(*sys.exc_info())
            cost = {"params": count_params(model)["total"], "latency_ms": None, "peak_mem_mb": peak_memory_mb(self.ctx.device)}
            if settings.measure_cost and samples:
                cost.update(window_flops(model, transform, samples[0], settings.window, self.ctx.device))
            scaling = scaling_points(model, transform, samples[: settings.scaling_limit],
                                     lambda: PROTOCOLS.build_from({"type": bench.protocol}), settings.scaling,
                                     bench.metrics[0], self.ctx.device, self.ctx) if settings.scaling else []
            if not self.ctx.is_main:
                return None
            cost["latency_ms"] = result.timings["ms_per_frame"]
            summary = {"key": key, "study": self.plan.name, "variant": cell.variant, "seed": cell.seed,
                       "model": cell.config["model"], "card": portable(cell.config)["card"],
                       "benchmark": cell.config["benchmark"]["name"], "split": cell.config["benchmark"]["split"],
                       "metrics": result.metrics, "metric_version": metric_version, "fingerprint": fingerprint,
                       "checkpoint_sha256": trained.checkpoint_sha256, "cost": cost,
                       "created": now()}
            self._publish(cell_dir, cell, summary, result, {"train_s": trained.train_seconds},
                          extra={"scaling.json": _json(scaling)} if scaling else {},
                          folders={"predictions": writer.path.parent} if writer is not None else None)
        outcome.ran.append(cell.id)
        self.echo(f"{label}: {metric_line(result.metrics, bench.metrics[:3])}  "
                  f"({result.timings['ms_per_frame']:.0f} ms/frame, eval {format_seconds(result.timings['eval_s'])})")
        return summary

    def _prediction_writer(self, cell_dir: Path, bench: Any) -> Any:
        """A writer of the masks in the benchmark's native layout, staged next to the cell.

        Per-expression benchmarks get ``predictions/predictions.zip`` in their submission layout
        (``Annotations/<video>/<exp>/<frame>.png``; MeViS without the wrapper), which the
        Ref-YouTube-VOS/MeViS servers accept; Ref-DAVIS gets the merged ``anno_<run>/<video>/<frame>.png``
        indexed PNGs of its toolkit; A2D/JHMDB get ``predictions/results.json``, the COCO results list
        with every query's mask. ``rvosbench eval --predictions`` re-scores any of them.
        """
        from rvosbench.metrics.a2d import A2DResultsWriter
        from rvosbench.metrics.ref_davis import RefDavisWriter
        from rvosbench.metrics.submission import SubmissionWriter

        writers = {
            "per_expression": lambda work: SubmissionWriter(work / "predictions.zip",
                                                            "mevis" if bench.name == "mevis" else "ref_youtube_vos"),
            "ref_davis_u4": lambda work: RefDavisWriter(work / "predictions.zip"),
            "a2d": lambda work: A2DResultsWriter(work / "results.json"),
        }
        if bench.protocol not in writers:
            raise ConfigError(f"eval.save_predictions has no native layout for {bench.name}'s protocol "
                              f"{bench.protocol}", where="eval.save_predictions", hint="set it to false for this benchmark")
        work = cell_dir.parent / f"{WORK_PREFIX}{cell_dir.name}"
        shutil.rmtree(work, ignore_errors=True)  # left by a killed run; we hold the cell's lock
        return writers[bench.protocol](work)

    def _publish(self, cell_dir: Path, cell: Cell, summary: dict[str, Any], result: EvalResult,
                 timings: Mapping[str, float], extra: Mapping[str, str] | None = None,
                 folders: Mapping[str, Path] | None = None) -> None:
        import io

        import numpy as np

        files: dict[str, str | bytes] = {
            "config.yaml": dump_yaml({"key": summary["key"], "cell": cell.id, **portable(cell.config)}),
            "env.json": _json(environment()),
            "samples.jsonl": jsonl_text(result.records),
            "timings.json": _json({**timings, **result.timings}),
            **(extra or {}),
        }
        if result.tables:
            files["tables.json"] = _json(result.tables)
        for name, arrays in result.strips.items():
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)
            files[f"strips/{name}.npz"] = buffer.getvalue()
        self.store.publish(cell_dir, summary, files, folders=folders)

    def _plan_summaries(self) -> list[dict[str, Any]]:
        """Summaries of every evaluation cell of the whole plan that the store holds."""
        summaries = []
        for cell in self.plan.eval_cells:
            summary = self.store.read_summary(self.store.cell_dir(self.plan.name, cell.id))
            if summary is not None:
                summaries.append(summary)
        return summaries

    def _write_study_measurements(self) -> None:
        """``cost.jsonl`` and ``scaling.jsonl`` of the study, rebuilt from its cells (reports plot them)."""
        costs, points = [], []
        for cell in self.plan.eval_cells:
            cell_dir = self.store.cell_dir(self.plan.name, cell.id)
            summary = self.store.read_summary(cell_dir)
            if summary is None:
                continue
            who = {"variant": cell.variant, "seed": cell.seed, "benchmark": cell.benchmark}
            cost = summary.get("cost") or {}
            if cost.get("flops") is not None or cost.get("latency_ms") is not None:
                costs.append({**who, **{k: cost.get(k) for k in ("params", "flops", "latency_ms", "peak_mem_mb",
                                                                   "frames", "size")}})
            if (cell_dir / "scaling.json").is_file():
                points += [{**who, **p} for p in json.loads((cell_dir / "scaling.json").read_text(encoding="utf-8"))]
        for name, rows in (("cost.jsonl", costs), ("scaling.jsonl", points)):
            if rows:
                atomic_write_text(self.study_dir / name, jsonl_text(rows))

    # -- trivial baselines -----------------------------------------------------------------------
    def score_baselines(self) -> list[dict[str, Any]]:
        """Score each reference predictor that applies on each benchmark of the plan (cached in ``baselines/``)."""
        results = []
        seen: set[str] = set()
        for cell in self.plan.eval_cells:
            if cell.benchmark in seen:
                continue
            seen.add(cell.benchmark)
            bench = self.benchmark(cell.config["benchmark"])
            if not getattr(bench, "ground_truth", True):
                continue
            settings = EvalSettings.from_config(cell.config.get("eval"))
            for name in self.baseline_names:
                predictor = trivial.baseline(name).predictor(bench)
                if predictor is None:  # e.g. the time-blind reader exists for synth only
                    continue
                summary = self._score_baseline(name, predictor, bench, cell, settings)
                if summary is not None:
                    results.append(summary)
        return results

    def _score_baseline(self, name: str, predictor: Predictor, bench: Any, cell: Cell,
                        settings: EvalSettings) -> dict[str, Any] | None:
        evaluator = PROTOCOLS.build_from({"type": bench.protocol})
        metric_version = str(getattr(evaluator, "metric_version", "1"))
        fingerprint = bench.fingerprint()
        config = {"baseline": name, "benchmark": cell.config["benchmark"], "limit": settings.limit}
        key = store_key(config, None, fingerprint, metric_version)
        cell_dir = self.study_dir / "baselines" / f"{name}--{cell.benchmark.replace('/', '-')}"
        with self._exclusive(cell_dir, f"baseline {name}"):
            found = self.store.read_summary(cell_dir) if self.ctx.is_main else None
            found = found if found and found.get("key") == key else None
            if self.ctx.broadcast(found is not None):
                return found
            samples = bench.sample_list()[: settings.limit] if settings.limit else bench.sample_list()
            result = run_evaluation(predictor, samples, evaluator, self.ctx, desc=f"[baseline] {name}")
            if not self.ctx.is_main:
                return None
            summary = {"key": key, "study": self.plan.name, "variant": name, "seed": None, "model": None,
                       "card": None, "benchmark": cell.config["benchmark"]["name"],
                       "split": cell.config["benchmark"]["split"], "metrics": result.metrics,
                       "metric_version": metric_version, "fingerprint": fingerprint, "checkpoint_sha256": None,
                       "source": "baseline", "created": now()}
            self.store.publish(cell_dir, summary, {"samples.jsonl": jsonl_text(result.records),
                                                   "timings.json": _json(result.timings)}, source=None)
        self.echo(f"[baseline] {name} on {cell.benchmark}: {metric_line(result.metrics, bench.metrics[:3])}")
        return summary

    # -- the end ---------------------------------------------------------------------------------
    def table(self, outcome: Outcome) -> str:
        metrics = {}
        for cell in self.plan.eval_cells:
            if cell.benchmark not in metrics:
                metrics[cell.benchmark] = list(self.benchmark(cell.config["benchmark"]).metrics[:3])
        return format_table(outcome.summaries, self.plan.variants, self.plan.baseline, metrics, outcome.baselines,
                            title=f"{self.plan.title} ({self.plan.name}): {len(outcome.summaries)} cells")

    def write_report(self) -> list[Path]:
        """Write the study's report with the reports package when it is there; never fail the run."""
        try:
            from rvosbench.report import write_study_report
        except ImportError as error:
            self.echo(f"report: not written (the reports package cannot be imported: {error})")
            return []
        try:
            paths = [Path(p) for p in write_study_report(self.study_dir)]
        except Exception as error:  # the results are stored; a report bug must not cost them
            self.echo(f"report: failed ({type(error).__name__}: {error}); the results are stored in "
                      f"{self.study_dir}; retry with: rvosbench report {self.study_dir}")
            return []
        pages = [p for p in paths if p.suffix in (".html", ".md")]
        self.echo(f"report: {len(paths)} files in {paths[0].parent if paths else '-'}"
                  + (f" ({', '.join(str(p) for p in pages)})" if pages else ""))
        return paths


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"


class _Held:
    def __init__(self, lock):
        self.lock = lock

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.lock.release()


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def run_study(plan: Plan, out: str | Path = "runs", only: str | None = None, **kwargs: Any) -> Outcome:
    """Run a study (see :class:`StudyRunner`)."""
    started = time.perf_counter()
    runner = StudyRunner(plan, out, only, **kwargs)
    outcome = runner.run()
    runner.echo(f"done in {format_seconds(time.perf_counter() - started)}: {len(outcome.ran)} cells computed, "
                f"{len(outcome.skipped)} found stored; results in {runner.study_dir}")
    return outcome
