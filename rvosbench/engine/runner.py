"""``rvosbench run``: train every (variant, seed) of a study once, evaluate it on every benchmark, store
each finished cell, and print the comparison table.

Order of work: for each training cell, train (or find the finished training, or resume it), then
evaluate it on each benchmark; finished cells are found by their content key and only bound to this
study. Changing one variant changes only its cells' keys, so only they run again. After all cells the
reference predictors are scored on each benchmark (stored the same way) and the table is printed. The
report is the CLI's business (``rvosbench.cli.run_cmd`` calls it): the engine does not import it.

The stages: :mod:`rvosbench.engine.training` (trainings), :mod:`rvosbench.engine.cells` (evaluation
cells), :mod:`rvosbench.engine.references` (predictors that need no model), all sharing one
:class:`~rvosbench.engine.session.RunSession` (store, ranks, benchmarks, output).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rvosbench.core.atomic import atomic_write_text, jsonl_text
from rvosbench.core.config import dump_yaml
from rvosbench.core.plan import Plan
from rvosbench.core.store import study_bindings
from rvosbench.engine import baselines as predictors
from rvosbench.engine.catalog import load_catalog
from rvosbench.engine.cells import EvaluationStage
from rvosbench.engine.distributed import DistContext
from rvosbench.engine.references import score_references
from rvosbench.engine.session import RunSession, format_seconds
from rvosbench.engine.table import format_table
from rvosbench.engine.training import Trained, TrainingStage, is_trained


@dataclass
class Outcome:
    """What a run produced (rank 0): the study's stored results, reference predictors and the table."""

    store: Path
    study_dir: Path
    summaries: list[dict[str, Any]] = field(default_factory=list)  # index lines of the plan's evaluation cells
    baselines: list[dict[str, Any]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # cell ids computed in this run
    skipped: list[str] = field(default_factory=list)  # cell ids found stored
    table: str = ""


class StudyRunner:
    """Runs one plan against one result store; see the module docstring."""

    def __init__(self, plan: Plan, store: str | Path = "runs", only: str | None = None,
                 ctx: DistContext | None = None, echo: Callable[[str], None] | None = None,
                 baselines: Sequence[str] = tuple(predictors.BASELINES), table: bool = True, eval_workers: int = 1):
        self.plan = plan
        self.selected = plan.filtered(only)
        self.session = RunSession(store, ctx, echo, eval_workers)
        self.baseline_names = list(baselines)
        self.print_table = table  # off in the jobs of ``run --jobs``: their caller prints the whole table
        self.training = TrainingStage(self.session, plan)
        self.evaluation = EvaluationStage(self.session, plan)

    @property
    def study_dir(self) -> Path:
        return self.session.store.study_dir(self.plan.name)

    def run(self) -> Outcome:
        session = self.session
        load_catalog(self.plan.plugins)
        outcome = Outcome(session.store.root, self.study_dir)
        if session.is_main:
            session.store.open(session.echo)
            self._write_plan()
        wanted = {c.key for c in self.selected.eval_cells}
        needed = {c.train_key for c in self.selected.eval_cells} | {c.key for c in self.selected.train_cells}
        train_cells = list({c.id: c for c in self.plan.train_cells if c.key in needed}.values())
        trained_count = sum(map(is_trained, train_cells))
        number = 0
        for cell in train_cells:
            number += is_trained(cell)
            label = f"[train {number}/{trained_count}]"
            trained: Trained | None = None
            evaluations = {c.id: c for c in self.plan.eval_cells if c.train_key == cell.key and c.key in wanted}
            for eval_cell in evaluations.values():
                trained = trained or self.training.train(cell, label)
                _, computed = self.evaluation.evaluate(eval_cell, trained)
                (outcome.ran if computed else outcome.skipped).append(eval_cell.id)
            if trained is None:
                self.training.train(cell, label)
        if session.is_main:
            outcome.summaries = self._plan_summaries()
            self._write_study_measurements(outcome.summaries)
        outcome.baselines = score_references(session, self.plan, self.baseline_names)
        if session.is_main and self.print_table:
            outcome.table = self.table(outcome)
            session.echo("\n" + outcome.table)
        return outcome

    def _write_plan(self) -> None:
        inference = [c.id for c in self.plan.train_cells if not is_trained(c)]
        cells = [{"id": c.id, "kind": c.kind, "key": c.key, "variant": c.variant, "seed": c.seed,
                  **({"benchmark": c.benchmark} if c.benchmark else {})}
                 for c in (*self.plan.train_cells, *self.plan.eval_cells) if c.id not in inference]
        document = {**{k: v for k, v in self.plan.config.items() if k != "_base_"}, "name": self.plan.name,
                    "title": self.plan.title, "baseline": self.plan.baseline, "seeds": self.plan.seeds,
                    "source": str(self.plan.source), "cells": cells,
                    **({"inference_only": inference} if inference else {})}
        atomic_write_text(self.study_dir / "plan.yaml", dump_yaml(document))

    def _plan_summaries(self) -> list[dict[str, Any]]:
        """The index lines of the plan's evaluation cells the store holds, once per cell id."""
        bound = {line["cell"]: line for line in study_bindings(self.session.store.root, self.plan.name)}
        ids = dict.fromkeys(c.id for c in self.plan.eval_cells)
        return [bound[cell] for cell in ids if cell in bound]

    def _write_study_measurements(self, summaries: list[dict[str, Any]]) -> None:
        """``cost.jsonl`` and ``scaling.jsonl`` of the study, rebuilt from its cells (reports plot them)."""
        costs, points = [], []
        root = self.session.store.root
        for line in summaries:
            who = {"variant": line["variant"], "seed": line["seed"], "benchmark": f"{line['benchmark']}/{line['split']}"}
            cost = line.get("cost") or {}
            if cost.get("flops") is not None or cost.get("latency_ms") is not None:
                costs.append({**who, **{k: cost.get(k) for k in ("params", "flops", "latency_ms", "peak_mem_mb",
                                                                   "frames", "size")}})
            scaling = root / line["path"] / "scaling.json"
            if scaling.is_file():
                points += [{**who, **p} for p in json.loads(scaling.read_text(encoding="utf-8"))]
        for name, rows in (("cost.jsonl", costs), ("scaling.jsonl", points)):
            if rows:
                atomic_write_text(self.study_dir / name, jsonl_text(rows))

    def table(self, outcome: Outcome) -> str:
        metrics = {}
        for cell in self.plan.eval_cells:
            if cell.benchmark not in metrics:
                metrics[cell.benchmark] = list(self.session.benchmark(cell.config["benchmark"]).metrics[:3])
        return format_table(outcome.summaries, self.plan.variants, self.plan.baseline, metrics, outcome.baselines,
                            title=f"{self.plan.title} ({self.plan.name}): {len(outcome.summaries)} cells")


def run_study(plan: Plan, store: str | Path = "runs", only: str | None = None, **kwargs: Any) -> Outcome:
    """Run a study (see :class:`StudyRunner`); ``store`` is the result store's folder."""
    started = time.perf_counter()
    runner = StudyRunner(plan, store, only, **kwargs)
    outcome = runner.run()
    runner.session.echo(f"done in {format_seconds(time.perf_counter() - started)}: {len(outcome.ran)} cells computed, "
                        f"{len(outcome.skipped)} found stored; results in {outcome.store} (study {plan.name})")
    return outcome
