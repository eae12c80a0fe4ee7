"""Read a study (and the store index) exactly as the engine wrote it, into pandas frames.

The report never imports the engine: the store's layout, record schema and reading policy are
:mod:`rvosbench.core.store`, which this module turns into frames. Everything is read once, up front,
into a :class:`Study`; a missing or malformed file is a :class:`~rvosbench.core.errors.UserError` naming
the file (and line for JSONL), never a traceback. Optional files (cost, scaling, training logs, strips,
the reference predictors bound with ``source: baseline``) are simply absent from the study when missing.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from rvosbench.core.errors import DataError, UserError
from rvosbench.core.store import (INDEX, benchmark_label, locate_study, read_bindings, require_store,
                                  study_file)

# Columns every per-sample frame carries before the metric values.
ID_COLUMNS = ["variant", "seed", "benchmark", "cell", "video_id", "exp_id", "num_frames", "tags", "category"]


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Objects of a JSON-lines file; blank lines are skipped, a bad line names ``file:line``."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"not valid JSON: {error.msg}", where=f"{path}:{number}",
                                hint="fix or delete that line (the store is append-only JSON lines)") from error
            if not isinstance(item, dict):
                raise DataError("expected a JSON object per line", where=f"{path}:{number}")
            yield item


def model_name(summary: dict[str, Any]) -> str:
    """The model a summary belongs to: its card's name, else the model config's ``type``."""
    card = summary.get("card")
    if isinstance(card, dict) and card.get("name"):
        return str(card["name"])
    model = summary.get("model")
    if isinstance(model, dict):
        return str(model.get("type") or model.get("name") or "?")
    return str(model or "?")


@dataclass
class Study:
    """Everything the report needs from ``runs/<study>/``.

    ``summaries`` has one row per evaluation cell (variant, seed, benchmark, cell, metric columns
    ``m:<name>``, cost columns); ``records`` one row per (cell, sample) with :data:`ID_COLUMNS` and the
    per-sample metric values.
    """

    path: Path  # the study's folder (plan.yaml, cost.jsonl, scaling.jsonl)
    store: Path
    name: str
    title: str
    baseline: str
    variants: list[str]
    plan: dict[str, Any]
    summaries: pd.DataFrame
    records: pd.DataFrame
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)  # cell id -> index line + "_dir"
    references: pd.DataFrame | None = None  # reference predictors (source: baseline), one row per cell
    reference_records: pd.DataFrame | None = None  # their per-sample records (variant = predictor name)
    cost: pd.DataFrame | None = None
    scaling: pd.DataFrame | None = None
    train_logs: pd.DataFrame | None = None

    @property
    def benchmarks(self) -> list[str]:
        return list(dict.fromkeys(self.summaries["benchmark"]))

    def cell_dir(self, cell: str) -> Path:
        return Path(self.cells[cell]["_dir"])

    @property
    def report_command(self) -> str:
        return f"rvosbench report {self.name} --store {self.store}"


def _read_plan(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise DataError(f"plan.yaml is not valid YAML: {error}", where=str(path)) from error
    if not isinstance(data, dict):
        raise DataError("plan.yaml must hold a mapping", where=str(path))
    return data


def _summary_row(summary: dict[str, Any], cell: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "variant": str(summary.get("variant") or "?"),
        "seed": int(summary.get("seed") or 0),
        "benchmark": benchmark_label(summary),
        "cell": cell,
        "model": model_name(summary),
        "key": summary.get("key"),
    }
    for name, value in (summary.get("metrics") or {}).items():
        if isinstance(value, (int, float)):
            row[f"m:{name}"] = float(value)
    cost = summary.get("cost") or {}
    for name in ("params", "flops", "latency_ms"):
        if isinstance(cost.get(name), (int, float)):
            row[f"cost:{name}"] = float(cost[name])
    return row


def _record_rows(path: Path, base: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for record in iter_jsonl(path):
        if "video_id" not in record:
            raise DataError("a per-sample record has no 'video_id'", where=str(path),
                            hint="records need video_id, exp_id, num_frames, tags and the metric values")
        row = {**base, **record}
        row["video_id"] = str(record["video_id"])
        row["exp_id"] = str(record.get("exp_id", ""))
        row["tags"] = tuple(record.get("tags") or ())
        rows.append(row)
    return rows


def read_records(cell_dir: Path, seed: int = 0) -> pd.DataFrame:
    """A cell's per-sample records (``samples.jsonl``) with its ``seed``; empty when it has none."""
    path = Path(cell_dir) / "samples.jsonl"
    rows = _record_rows(path, {"seed": seed}) if path.is_file() else []
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["seed", "video_id"])


def _optional_jsonl(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    rows = list(iter_jsonl(path))
    return pd.DataFrame(rows) if rows else None


def _train_logs(store: Path, lines: list[dict[str, Any]]) -> pd.DataFrame | None:
    """The training logs of the study's (variant, seed) trainings, from the bindings' ``train_path``."""
    frames, seen = [], set()
    for line in lines:
        who = (str(line.get("variant")), int(line.get("seed") or 0))
        log = store / str(line.get("train_path")) / "train_log.jsonl" if line.get("train_path") else None
        if who in seen or log is None or not log.is_file():
            continue
        seen.add(who)
        rows = list(iter_jsonl(log))
        if rows:
            frame = pd.DataFrame(rows)
            frame["variant"], frame["seed"] = who
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def load_study(study: str | Path, store: str | Path | None = None) -> Study:
    """Read one study of a store: its plan, every bound evaluation cell and the optional extras.

    ``study`` is a name (with ``store``, default ``runs``) or a folder (``runs/studies/jsc``, or
    ``runs/jsc`` of stores written by earlier versions).
    """
    root, name = locate_study(study, store)
    require_store(root)
    plan = _read_plan(study_file(root, name, "plan.yaml"))
    lines = [line for line in read_bindings(root) if line["study"] == name]
    planned = {c.get("id") for c in plan.get("cells") or [] if isinstance(c, dict)}
    models = [line for line in lines if line.get("source") != "baseline" and (not planned or line["cell"] in planned)]
    if not models:
        raise UserError(f"no finished evaluation cell of study '{name}' in this store", where=str(root / INDEX),
                        hint="run the study first (rvosbench run ablations/<study>.yaml), or pass --store DIR "
                             "where `rvosbench run --store DIR` wrote it")
    summaries, records, cells = [], [], {}
    for line in models:
        cell_dir = root / line["path"]
        row = _summary_row(line, line["cell"])
        summaries.append(row)
        cells[line["cell"]] = {**line, "_dir": str(cell_dir)}
        if (cell_dir / "samples.jsonl").is_file():
            base = {k: row[k] for k in ("variant", "seed", "benchmark", "cell")}
            records.extend(_record_rows(cell_dir / "samples.jsonl", base))
    summary_frame = pd.DataFrame(summaries)
    record_frame = pd.DataFrame(records) if records else pd.DataFrame(columns=ID_COLUMNS)
    plan_variants = plan.get("variants")
    order = list(plan_variants) if isinstance(plan_variants, (dict, list)) and plan_variants else []
    order = [v if isinstance(v, str) else str(v.get("name")) for v in order]
    found = list(dict.fromkeys(summary_frame["variant"]))
    variants = [v for v in order if v in found] + [v for v in found if v not in order]
    baseline = str(plan.get("baseline") or variants[0])
    plan_file = study_file(root, name, "plan.yaml")
    if baseline not in variants:
        raise UserError(f"the baseline variant '{baseline}' has no finished cell", where=str(plan_file),
                        hint="run the baseline's cells, or choose another baseline in the report spec")
    references, reference_records = [], []
    for line in (line for line in lines if line.get("source") == "baseline"):
        row = _summary_row(line, line["cell"])
        references.append(row)
        if (root / line["path"] / "samples.jsonl").is_file():
            base = {k: row[k] for k in ("variant", "seed", "benchmark", "cell")}
            reference_records.extend(_record_rows(root / line["path"] / "samples.jsonl", base))
    return Study(path=plan_file.parent, store=root, name=name, title=str(plan.get("title") or name),
                 baseline=baseline, variants=variants, plan=plan, summaries=summary_frame, records=record_frame,
                 cells=cells, references=pd.DataFrame(references) if references else None,
                 reference_records=pd.DataFrame(reference_records) if reference_records else None,
                 cost=_optional_jsonl(study_file(root, name, "cost.jsonl")),
                 scaling=_optional_jsonl(study_file(root, name, "scaling.jsonl")),
                 train_logs=_train_logs(root, models))


def load_index(store: str | Path) -> pd.DataFrame:
    """Every binding of ``<store>/index.jsonl`` as a row (summary fields, ``study``, ``path``, ``source``),
    by the store's reading policy (one row per study and cell; reference predictors left out)."""
    root = Path(store)
    require_store(root)
    rows = []
    for entry in read_bindings(root):
        if entry.get("source") == "baseline":
            continue
        row = _summary_row(entry, str(entry.get("cell") or ""))
        row.update(study=str(entry.get("study") or "?"), source=str(entry.get("source") or "trained"),
                   card=entry.get("card") if isinstance(entry.get("card"), dict) else {},
                   created=entry.get("created"), path=str(entry.get("path") or ""), dir=str(root / entry["path"]),
                   partial=entry.get("partial"))
        rows.append(row)
    if not rows:
        raise UserError("the results index is empty", where=str(root / INDEX),
                        hint="run a study first, or pass --store DIR where `rvosbench run --store DIR` wrote results")
    return pd.DataFrame(rows)
