"""Read a study (and the store index) exactly as the engine wrote it, into pandas frames.

The report never imports the engine: the files under ``runs/`` are the contract (docs/architecture.md,
"Result store"). Everything is read once, up front, into a :class:`Study`; a missing or malformed file
is a :class:`~rvosbench.core.errors.UserError` naming the file (and line for JSONL), never a traceback.
Optional files (cost, scaling, training logs, strips, the trivial baselines the engine scores under
``runs/<study>/baselines/<name>--<benchmark>/``) are simply absent from the study when missing.
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

# Columns every per-sample frame carries before the metric values.
ID_COLUMNS = ["variant", "seed", "benchmark", "cell", "video_id", "exp_id", "num_frames", "tags", "category"]


def read_json(path: Path) -> dict[str, Any]:
    """One JSON object from ``path``; a broken file is a DataError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DataError("file not found", where=str(path), hint="is this a finished rvosbench run?") from error
    except json.JSONDecodeError as error:
        raise DataError(f"not valid JSON: {error.msg}", where=f"{path}:{error.lineno}",
                        hint="the file was damaged; delete the cell and run the study again") from error
    if not isinstance(data, dict):
        raise DataError("expected a JSON object", where=str(path))
    return data


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


def benchmark_name(summary: dict[str, Any]) -> str:
    """Display name ``name/split`` of a summary's benchmark (as studies write them)."""
    name = str(summary.get("benchmark") or "?")
    split = summary.get("split")
    return name if "/" in name or not split else f"{name}/{split}"


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

    path: Path
    name: str
    title: str
    baseline: str
    variants: list[str]
    plan: dict[str, Any]
    summaries: pd.DataFrame
    records: pd.DataFrame
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)  # cell id -> summary + files
    references: pd.DataFrame | None = None  # trivial baselines (runs/<study>/baselines/*), one row per cell
    cost: pd.DataFrame | None = None
    scaling: pd.DataFrame | None = None
    train_logs: pd.DataFrame | None = None

    @property
    def benchmarks(self) -> list[str]:
        return list(dict.fromkeys(self.summaries["benchmark"]))

    def strip_dirs(self) -> dict[str, Path]:
        """Cell id -> its ``strips/`` folder, for cells that have one."""
        return {cell: self.path / "cells" / cell / "strips" for cell in self.cells
                if (self.path / "cells" / cell / "strips").is_dir()}


def _read_plan(study_dir: Path) -> dict[str, Any]:
    path = study_dir / "plan.yaml"
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
        "benchmark": benchmark_name(summary),
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


def _optional_jsonl(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    rows = list(iter_jsonl(path))
    return pd.DataFrame(rows) if rows else None


def _train_logs(study_dir: Path) -> pd.DataFrame | None:
    frames = []
    for log in sorted((study_dir / "train").glob("*/train_log.jsonl")):
        variant, _, seed = log.parent.name.rpartition("-s")
        rows = list(iter_jsonl(log))
        if rows and seed.isdigit():
            frame = pd.DataFrame(rows)
            frame["variant"], frame["seed"] = variant, int(seed)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def _references(study_dir: Path) -> pd.DataFrame | None:
    """Trivial baselines the engine scores beside a study (empty mask, whole frame, …), when present."""
    rows = [_summary_row(read_json(path), path.parent.name)
            for path in sorted((study_dir / "baselines").glob("*/summary.json"))]
    return pd.DataFrame(rows) if rows else None


def load_study(study_dir: str | Path) -> Study:
    """Read ``runs/<study>/``: plan, every finished evaluation cell and the optional extras."""
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise UserError("study folder not found", where=str(study_dir),
                        hint="give runs/<study> as written by `rvosbench run`")
    plan = _read_plan(study_dir)
    summaries, records, cells = [], [], {}
    for cell_dir in sorted((study_dir / "cells").glob("*")):
        # Cells are written to a temporary folder and renamed: only finished ones have a summary.
        if cell_dir.name.startswith(".") or not (cell_dir / "summary.json").is_file():
            continue
        summary = read_json(cell_dir / "summary.json")
        row = _summary_row(summary, cell_dir.name)
        summaries.append(row)
        cells[cell_dir.name] = {**summary, "_dir": str(cell_dir)}
        if (cell_dir / "samples.jsonl").is_file():
            base = {k: row[k] for k in ("variant", "seed", "benchmark", "cell")}
            records.extend(_record_rows(cell_dir / "samples.jsonl", base))
    if not summaries:
        raise UserError("no finished evaluation cell in this study", where=str(study_dir / "cells"),
                        hint="run the study first: rvosbench run ablations/<study>.yaml")
    summary_frame = pd.DataFrame(summaries)
    record_frame = pd.DataFrame(records) if records else pd.DataFrame(columns=ID_COLUMNS)
    plan_variants = plan.get("variants")
    order = list(plan_variants) if isinstance(plan_variants, (dict, list)) and plan_variants else []
    order = [v if isinstance(v, str) else str(v.get("name")) for v in order]
    found = list(dict.fromkeys(summary_frame["variant"]))
    variants = [v for v in order if v in found] + [v for v in found if v not in order]
    baseline = str(plan.get("baseline") or variants[0])
    if baseline not in variants:
        raise UserError(f"the baseline variant '{baseline}' has no finished cell", where=str(study_dir / "plan.yaml"),
                        hint="run the baseline's cells, or choose another baseline in the report spec")
    name = str(plan.get("name") or study_dir.name)
    return Study(path=study_dir, name=name, title=str(plan.get("title") or name), baseline=baseline,
                 variants=variants, plan=plan, summaries=summary_frame, records=record_frame, cells=cells,
                 references=_references(study_dir),
                 cost=_optional_jsonl(study_dir / "cost.jsonl"), scaling=_optional_jsonl(study_dir / "scaling.jsonl"),
                 train_logs=_train_logs(study_dir))


def load_index(store: str | Path) -> pd.DataFrame:
    """Every line of ``<store>/index.jsonl`` as a row (summary fields, ``path``, ``source``)."""
    path = Path(store) / "index.jsonl"
    if not path.is_file():
        raise UserError("no results index", where=str(path),
                        hint="run a study (rvosbench run) or score predictions (rvosbench eval) first")
    rows = []
    for entry in iter_jsonl(path):
        row = _summary_row(entry, str(entry.get("path") or ""))
        row.update(study=str(entry.get("study") or "?"), source=str(entry.get("source") or "trained"),
                   card=entry.get("card") if isinstance(entry.get("card"), dict) else {},
                   created=entry.get("created"), path=str(entry.get("path") or ""))
        rows.append(row)
    if not rows:
        raise UserError("the results index is empty", where=str(path), hint="run a study first")
    return pd.DataFrame(rows)
