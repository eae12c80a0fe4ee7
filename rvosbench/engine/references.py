"""Reference predictors scored beside a study: predictions that need no model (:mod:`rvosbench.engine.baselines`).

Each (predictor, benchmark) is a cell like any other: content-keyed by the predictor's name, the
benchmark config, ``eval.limit``, the benchmark fingerprint and the metric version; stored once in
``<store>/cells/<key>/`` and bound to every study that lists the benchmark (``source: baseline``), so
the reports and the leaderboard show them next to the models.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rvosbench.core.plan import Plan
from rvosbench.core.store import store_key, summary_record
from rvosbench.engine import baselines as predictors
from rvosbench.engine.cells import cell_files
from rvosbench.engine.evaluation import Predictor, run_evaluation
from rvosbench.engine.session import RunSession, metric_line, partial_notes
from rvosbench.engine.settings import EvalSettings


def reference_cell_id(name: str, benchmark: str) -> str:
    """The cell id a study binds a reference predictor's result to (``empty--synth-test``)."""
    return f"{name}--{benchmark.replace('/', '-')}"


def score_references(session: RunSession, plan: Plan, names: Sequence[str]) -> list[dict[str, Any]]:
    """Score each named predictor on each benchmark of the plan (found stored when it was scored before)."""
    results = []
    seen: set[str] = set()
    for cell in plan.eval_cells:
        if cell.benchmark in seen:
            continue
        seen.add(cell.benchmark)
        bench = session.benchmark(cell.config["benchmark"])
        if not getattr(bench, "ground_truth", True):
            continue
        settings = EvalSettings.from_config(cell.config.get("eval"))
        for name in names:
            predictor = predictors.baseline(name).predictor(bench)
            if predictor is None:  # e.g. the time-blind reader exists for synth only
                continue
            summary = _score(session, plan, name, predictor, bench, cell.config["benchmark"], cell.benchmark, settings)
            if summary is not None:
                results.append(summary)
    return results


def _score(session: RunSession, plan: Plan, name: str, predictor: Predictor, bench: Any, config: dict[str, Any],
           display: str, settings: EvalSettings) -> dict[str, Any] | None:
    evaluator, metric_version = session.protocol(bench)
    fingerprint = bench.fingerprint()
    key = store_key({"baseline": name, "benchmark": config, "limit": settings.limit}, None, fingerprint, metric_version)
    cell_dir = session.store.cell_dir(key)
    cell_id = reference_cell_id(name, display)
    with session.exclusive(cell_dir, f"baseline {name}"):
        found = session.store.finished(key) if session.is_main else None
        if session.ctx.broadcast(found is not None):
            summary = found
        else:
            samples = bench.sample_list()[: settings.limit] if settings.limit else bench.sample_list()
            result = run_evaluation(predictor, samples, evaluator, session.ctx, desc=f"[baseline] {name}")
            if not session.is_main:
                return None
            summary = summary_record(key=key, study=plan.name, variant=name, seed=None,
                                     benchmark={**config, "protocol": bench.protocol}, metrics=result.metrics,
                                     metric_version=metric_version, fingerprint=fingerprint, source="baseline",
                                     partial=partial_notes(bench, settings.limit, session.notes(config)))
            session.store.publish(summary, cell_files(result, env=False))
            session.echo(f"[baseline] {name} on {display}: {metric_line(result.metrics, bench.metrics[:3])}")
        if session.is_main:
            session.store.bind(summary, study=plan.name, cell=cell_id, variant=name, seed=None, source="baseline")
    return summary if session.is_main else None
