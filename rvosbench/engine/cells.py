"""The evaluation stage of a run: score a trained model on one benchmark and store the cell.

A cell is found by its content key (:func:`rvosbench.core.store.store_key`) in ``<store>/cells/<key>/``;
when it is there (computed by this study or by any other that resolves to the same key) it is only
bound to this study's cell id in the index. Otherwise the model predicts every sample, the protocol
scores it, and the cell is published whole (staged, then renamed) and bound.
"""
from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rvosbench.core.atomic import jsonl_text
from rvosbench.core.config import dump_yaml
from rvosbench.core.errors import ConfigError
from rvosbench.core.plan import Cell, Plan
from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.store import portable, store_key, summary_record
from rvosbench.engine.cost import scaling_points, window_flops
from rvosbench.engine.evaluation import EvalResult, ModelPredictor, run_evaluation
from rvosbench.engine.provenance import environment
from rvosbench.engine.scoring import VideoScorer
from rvosbench.engine.session import RunSession, eval_transform, format_seconds, metric_line, partial_notes
from rvosbench.engine.settings import EvalSettings
from rvosbench.engine.training import Trained
from rvosbench.models.costs import count_params, peak_memory_mb, reset_peak_memory

WORK_PREFIX = ".work-"  # a cell's files written while it is evaluated (saved predictions)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"


def cell_files(result: EvalResult, *, env: bool = True, **extra: Any) -> dict[str, str | bytes]:
    """The files of a cell folder besides ``summary.json``: records, timings, tables, strips, env."""
    import numpy as np

    files: dict[str, str | bytes] = {"samples.jsonl": jsonl_text(result.records), "timings.json": to_json(result.timings)}
    if env:
        files["env.json"] = to_json(environment())
    if result.tables:
        files["tables.json"] = to_json(result.tables)
    for name, arrays in result.strips.items():
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        files[f"strips/{name}.npz"] = buffer.getvalue()
    files.update({name: content if isinstance(content, (str, bytes)) else to_json(content)
                  for name, content in extra.items()})
    return files


class EvaluationStage:
    """Evaluates and stores the evaluation cells of a plan."""

    def __init__(self, session: RunSession, plan: Plan):
        self.session = session
        self.plan = plan

    def evaluate(self, cell: Cell, trained: Trained) -> tuple[dict[str, Any] | None, bool]:
        """``(summary, computed)``: the cell's result (None on ranks > 0) and whether this run computed it."""
        session = self.session
        settings = EvalSettings.from_config(cell.config.get("eval"))
        bench = session.benchmark(cell.config["benchmark"])
        evaluator, metric_version = session.protocol(bench)
        fingerprint = bench.fingerprint()
        key = store_key(cell.config, trained.checkpoint_sha256, fingerprint, metric_version)
        cell_dir = session.store.cell_dir(key)
        label = f"[eval] {cell.id}"
        with session.exclusive(cell_dir, f"cell {cell.id}"):
            found = session.store.finished(key) if session.is_main else None
            if session.ctx.broadcast(found is not None):
                if session.is_main:
                    self._bind(found, cell, trained)
                    by = f" by study {found.get('study')}" if found.get("study") != self.plan.name else ""
                    session.echo(f"{label}: {metric_line(found['metrics'], bench.metrics[:3])} (stored earlier{by})")
                return found, False
            model = self._model(cell, trained)
            transform = eval_transform(cell.config.get("card") or {}, settings)
            predictor = ModelPredictor(model, transform, settings.window, session.ctx.device, settings.threshold)
            samples = bench.sample_list()[: settings.limit] if settings.limit else bench.sample_list()
            reset_peak_memory(session.ctx.device)
            writer = self._prediction_writer(cell_dir, bench) if settings.save_predictions and session.is_main else None
            try:
                workers = session.eval_workers if session.is_main else 1  # rank 0 scores what all ranks predict
                with VideoScorer(bench, cell.config["benchmark"], workers) as scorer:
                    result = run_evaluation(predictor, samples, evaluator, session.ctx, desc=label,
                                            strips=settings.strips, strip_frames=settings.strip_frames,
                                            strip_metric=bench.metrics[0], sink=writer, scorer=scorer)
            finally:
                if writer is not None:
                    writer.__exit__(*sys.exc_info())
            cost = {"params": count_params(model)["total"], "latency_ms": None, "peak_mem_mb": peak_memory_mb(session.ctx.device)}
            if settings.measure_cost and samples:
                cost.update(window_flops(model, transform, samples[0], settings.window, session.ctx.device))
            scaling = scaling_points(model, transform, samples[: settings.scaling_limit],
                                     lambda: PROTOCOLS.build_from({"type": bench.protocol}), settings.scaling,
                                     bench.metrics[0], session.ctx.device, session.ctx) if settings.scaling else []
            if not session.is_main:
                return None, True
            cost["latency_ms"] = result.timings["ms_per_frame"]
            summary = summary_record(
                key=key, study=self.plan.name, variant=cell.variant, seed=cell.seed,
                benchmark={**cell.config["benchmark"], "protocol": bench.protocol}, metrics=result.metrics,
                metric_version=metric_version, fingerprint=fingerprint, source=trained.source,
                model=cell.config["model"], card=cell.config.get("card"),
                checkpoint_sha256=trained.checkpoint_sha256, cost=cost,
                partial=partial_notes(bench, settings.limit, session.notes(cell.config["benchmark"])))
            result.timings = {"train_s": trained.train_seconds, **result.timings}
            files = cell_files(result, **{"config.yaml": dump_yaml({"key": key, "cell": cell.id,
                                                                    **portable(cell.config)})},
                               **({"scaling.json": scaling} if scaling else {}))
            session.store.publish(summary, files, folders={"predictions": writer.path.parent} if writer else None)
            self._bind(summary, cell, trained)
        session.echo(f"{label}: {metric_line(result.metrics, bench.metrics[:3])}  "
                     f"({result.timings['ms_per_frame']:.0f} ms/frame, eval {format_seconds(result.timings['eval_s'])})")
        return summary, True

    def _bind(self, summary: Mapping[str, Any], cell: Cell, trained: Trained) -> None:
        self.session.store.bind(summary, study=self.plan.name, cell=cell.id, variant=cell.variant, seed=cell.seed,
                                source=trained.source, train_dir=trained.folder)

    def _model(self, cell: Cell, trained: Trained) -> Any:
        """The trained model, loaded from its (sha256-checked) checkpoint when it is not in memory."""
        if trained.model is None:
            from rvosbench.engine.checkpoint import resolve_checkpoint
            from rvosbench.models.checkpoint import load_checkpoint

            trained.model = self.session.build_model(cell.config["model"], cell.seed)
            path, _ = resolve_checkpoint(cell.config.get("card") or {}, trained.checkpoint)
            load_checkpoint(trained.model, path)
        return trained.model

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
                              f"{bench.protocol}", where="eval.save_predictions",
                              hint="set it to false for this benchmark")
        work = cell_dir.parent / f"{WORK_PREFIX}{cell_dir.name}"
        shutil.rmtree(work, ignore_errors=True)  # left by a killed run; we hold the cell's lock
        return writers[bench.protocol](work)
