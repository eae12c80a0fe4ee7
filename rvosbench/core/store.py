"""The result store: its layout, its record schema and its reading policy, in one module.

Layout 2 (docs/architecture.md)::

    <store>/store.json                 {"layout": 2}
    <store>/index.jsonl                one line per (study, cell): the cell's summary + who binds it
    <store>/cells/<key>/               one evaluation result, named by its content key
    <store>/trainings/<train key>/     one training: checkpoints, train_log.jsonl, config.yaml, done.json
    <store>/studies/<study>/           plan.yaml, cost.jsonl, scaling.jsonl
    <store>/reports/<study>/           the study's report (rvosbench report); reports/leaderboard/

Why content-addressed folders: a cell's key is a hash of everything that decides its numbers (resolved
model, card, training and evaluation configs, seed, checkpoint sha256, benchmark fingerprint, metric
version; :func:`store_key`), so two studies that resolve a cell to the same key *are* asking for the
same result. ``ablations/all.yaml`` therefore reuses the cells and trainings ``ablations/jsc.yaml``
computed, and a changed config never overwrites the result another study still shows.

Record schema: every ``summary.json`` is built by :func:`summary_record`; an index line is a summary
plus the binding fields of :func:`index_record` (``study``, ``cell``, ``variant``, ``seed``, ``source``,
``path``, ``train_path``). ``source`` says where the numbers come from: ``trained`` (trained by the
study), ``inference`` (a model evaluated as it is: inference-only, or ``train.steps: 0``), ``baseline``
(a reference predictor that needs no model) or ``external`` (predictions scored by ``rvosbench eval``).

Reading policy (:func:`read_bindings`, the only reader of the index):

* a torn or unreadable line is skipped with a warning naming ``file:line`` (a writer killed mid-append
  leaves at most a torn last line, which the next append cuts off);
* the **last** line of each (study, cell) wins: re-running a changed cell or ``eval --overwrite``
  rebinds the name to a new result, and the earlier result is never averaged with it nor counted twice;
* a line whose cell folder does not hold a summary with its key is dropped (the folder is the truth).

Stores written by earlier versions (``<store>/<study>/cells/<cell id>/``, ``<study>/train/…``) are read
in place by the same policy (their folders are scanned), and :func:`migrate` moves them to layout 2
without changing a key; ``rvosbench run`` and ``eval --name`` migrate a store they write to.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rvosbench.core.atomic import (append_line, atomic_write_json, atomic_write_text, clean_staging, jsonl_text,
                                   staged_dir)
from rvosbench.core.errors import UserError
from rvosbench.core.hashing import stable_hash

LAYOUT = 2
INDEX = "index.jsonl"
MARKER = "store.json"
CELLS, TRAININGS, STUDIES, REPORTS = "cells", "trainings", "studies", "reports"
RESERVED = {CELLS, TRAININGS, STUDIES, REPORTS}
LOCKS = ".locks"
JOURNAL = "migration.json"
SOURCES = ("trained", "inference", "baseline", "external")
BINDING_FIELDS = ("study", "cell", "variant", "seed", "source", "path", "train_path")
STUDY_FILES = ("plan.yaml", "cost.jsonl", "scaling.jsonl")


# -- keys --------------------------------------------------------------------------------------------
def portable(config: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved cell config without machine-specific paths (the card's file location)."""
    result = dict(config)
    if isinstance(result.get("card"), Mapping):
        result["card"] = {k: v for k, v in result["card"].items() if k != "file"}
    return result


def train_store_key(train_config: Mapping[str, Any], train_fingerprint: str | None) -> str:
    """Identity of a trained checkpoint: what it was trained from and on which data."""
    return stable_hash({"train": portable(train_config), "data": train_fingerprint})


def store_key(cell_config: Mapping[str, Any], checkpoint_sha256: str | None, fingerprint: str,
              metric_version: str) -> str:
    """Identity of an evaluation result (the name of its folder under ``cells/``)."""
    return stable_hash({"cell": portable(cell_config), "checkpoint_sha256": checkpoint_sha256,
                        "fingerprint": fingerprint, "metric_version": str(metric_version)})


def now() -> str:
    """Creation stamp stored in summaries (local time with offset, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# -- the record schema -------------------------------------------------------------------------------
def summary_record(*, key: str, study: str, variant: str, seed: int | None, benchmark: Mapping[str, Any],
                   metrics: Mapping[str, float], metric_version: str, fingerprint: str, source: str,
                   model: Any = None, card: Mapping[str, Any] | None = None, checkpoint_sha256: str | None = None,
                   cost: Mapping[str, Any] | None = None, partial: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    """The one builder of ``summary.json`` (trained and inference cells, baselines, external predictions).

    ``benchmark`` is the resolved benchmark config (``name``, ``split``, ``protocol`` when known).
    ``partial`` says why the numbers cover only part of the dataset (``eval.limit``, a copy whose counts
    differ from the released dataset's); empty when they cover all of it. The leaderboard flags it.
    ``study``, ``variant`` and ``seed`` name the study that computed the cell; a study that shares it
    binds it under its own names in the index.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return {"key": key, "study": study, "variant": variant, "seed": seed, "model": model,
            "card": portable({"card": card})["card"] if isinstance(card, Mapping) else card,
            "benchmark": str(benchmark.get("name")), "split": str(benchmark.get("split")),
            **({"protocol": benchmark["protocol"]} if benchmark.get("protocol") else {}),
            "metrics": {k: float(v) for k, v in metrics.items()}, "metric_version": str(metric_version),
            "fingerprint": fingerprint, "checkpoint_sha256": checkpoint_sha256,
            "cost": dict(cost) if cost is not None else None, "source": source, "partial": list(partial), **extra,
            "created": now()}


def index_record(summary: Mapping[str, Any], *, study: str, cell: str, variant: str, seed: int | None,
                 source: str, path: str, train_path: str | None = None) -> dict[str, Any]:
    """An index line: the cell's summary bound to ``study``'s cell id ``cell``."""
    return {**summary, "study": study, "cell": cell, "variant": variant, "seed": seed, "source": source,
            "path": path, "train_path": train_path}


def benchmark_label(record: Mapping[str, Any]) -> str:
    """``name/split`` of a record's benchmark, as studies write it."""
    name = str(record.get("benchmark") or "?")
    split = record.get("split")
    return name if "/" in name or not split else f"{name}/{split}"


# -- reading -----------------------------------------------------------------------------------------
def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; a torn or invalid line is skipped with a warning."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                warnings.warn(f"{path}:{number}: skipping an unreadable line (a writer was interrupted)",
                              stacklevel=2)
                continue
            if isinstance(record, dict):
                yield record


def read_summary(cell_dir: Path) -> dict[str, Any] | None:
    """A cell's ``summary.json``, or None when it is missing or unreadable (not finished)."""
    try:
        summary = json.loads((Path(cell_dir) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return summary if isinstance(summary, dict) else None


def _verified(root: Path, line: Mapping[str, Any]) -> bool:
    summary = read_summary(root / str(line.get("path") or "?"))
    return summary is not None and summary.get("key") == line.get("key")


def read_bindings(root: str | Path) -> list[dict[str, Any]]:
    """Every (study, cell) the store holds a result for, by the reading policy of the module docstring.

    Order: first appearance of each (study, cell); content: its last line.
    """
    root = Path(root)
    lines = list(read_jsonl(root / INDEX))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for line in lines:
        if "cell" in line and "study" in line:
            found[(str(line["study"]), str(line["cell"]))] = line
    legacy = [line for line in lines if "cell" not in line]
    for line in _legacy_scan(root, legacy)["bindings"]:
        found.setdefault((line["study"], line["cell"]), line)
    return [line for line in found.values() if _verified(root, line)]


def study_bindings(root: str | Path, study: str) -> list[dict[str, Any]]:
    return [line for line in read_bindings(root) if line["study"] == study]


def study_file(root: str | Path, study: str, name: str) -> Path:
    """Where a study's own file (``plan.yaml``, ``cost.jsonl``, …) is: layout 2, else the old layout's."""
    path = Path(root) / STUDIES / study / name
    legacy = Path(root) / study / name
    return legacy if not path.exists() and legacy.exists() else path


def is_store(root: str | Path) -> bool:
    root = Path(root)
    return (root / MARKER).is_file() or (root / INDEX).is_file() or bool(_legacy_study_dirs(root))


def locate_study(study: str | Path, store: str | Path | None = None) -> tuple[Path, str]:
    """``(store root, study name)`` from a study name (in ``store``) or a study folder.

    Accepted: ``jsc`` with ``store``; ``runs/studies/jsc``; ``runs/jsc`` (what earlier versions printed).
    """
    path = Path(study)
    if path.is_dir() and path.parent.name == STUDIES and is_store(path.parent.parent):
        return path.parent.parent, path.name
    if store is None and (len(path.parts) > 1 or not Path("runs").is_dir()):
        if len(path.parts) > 1 and is_store(path.parent) and (path.is_dir() or (path.parent / STUDIES / path.name).is_dir()):
            return path.parent, path.name
        raise UserError("study folder not found", where=str(path),
                        hint="give the study's name and its store (rvosbench report jsc --store runs), "
                             "or its folder <store>/studies/<study>")
    return Path(store if store is not None else "runs"), str(study)


def require_store(root: Path, option: str = "--store") -> None:
    """A UserError pointing at ``option`` when ``root`` is not a result store."""
    if not is_store(root):
        raise UserError("no results index in this folder", where=str(root / INDEX),
                        hint=f"pass {option} DIR where `rvosbench run --store DIR` or `rvosbench eval --name` wrote "
                             "results, or run a study first")


# -- the writer --------------------------------------------------------------------------------------
class ResultStore:
    """A results folder (default ``runs/``): content-addressed cells and trainings, the index, locks."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.index_path = self.root / INDEX
        self._locks: dict[str, Any] = {}

    # -- layout
    def cell_dir(self, key: str) -> Path:
        return self.root / CELLS / key

    def train_dir(self, train_key: str) -> Path:
        return self.root / TRAININGS / train_key

    def study_dir(self, study: str) -> Path:
        return self.root / STUDIES / study

    def report_dir(self, study: str) -> Path:
        return self.root / REPORTS / study

    def relative(self, path: Path | None) -> str | None:
        return None if path is None else Path(os.path.relpath(path, self.root)).as_posix()

    def lock(self, path: Path) -> Any:
        """The OS lock guarding ``path`` (a cell, a training or the index), kept under ``.locks/``.

        One instance per path, so it is re-entrant within this process; an OS lock dies with its
        process, so a ``kill -9`` never leaves a stale one.
        """
        from filelock import FileLock

        name = str(self.root / LOCKS / (self.relative(path) or "").replace("/", "--")) + ".lock"
        if name not in self._locks:
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            self._locks[name] = FileLock(name)
        return self._locks[name]

    def open(self, echo: Any = print) -> None:
        """Make the folder a layout-2 store, migrating what earlier versions wrote (said in one line)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if _legacy_study_dirs(self.root) or (self.root / JOURNAL).is_file():
            moved = migrate(self.root)
            echo(f"store {self.root}: moved {moved['cells']} cells and {moved['trainings']} trainings of "
                 f"{moved['studies']} studies to layout {LAYOUT} (cells/<key>, shared by every study); keys unchanged")
        if not (self.root / MARKER).is_file():
            atomic_write_json(self.root / MARKER, {"layout": LAYOUT})

    # -- reading
    def records(self) -> list[dict[str, Any]]:
        """Every binding of the index, by the reading policy (:func:`read_bindings`)."""
        return read_bindings(self.root)

    def binding(self, study: str, cell: str) -> dict[str, Any] | None:
        return next((r for r in self.records() if r["study"] == study and r["cell"] == cell), None)

    def finished(self, key: str) -> dict[str, Any] | None:
        """The summary when ``cells/<key>`` holds a complete result for ``key``."""
        summary = read_summary(self.cell_dir(key))
        return summary if summary is not None and summary.get("key") == key else None

    # -- writing
    def publish(self, summary: Mapping[str, Any], files: Mapping[str, str | bytes],
                folders: Mapping[str, Path] | None = None) -> Path:
        """Write ``cells/<key>`` atomically: ``files`` by relative name, ``folders`` moved in, then
        ``summary.json``; holds the cell's lock while replacing it."""
        cell_dir = self.cell_dir(summary["key"])
        with self.lock(cell_dir):
            clean_staging(cell_dir)
            with staged_dir(cell_dir) as staging:
                content = {**files, "summary.json": json.dumps(summary, indent=2, default=str)}
                for name, data in content.items():
                    target = staging / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if isinstance(data, bytes):
                        target.write_bytes(data)
                    else:
                        target.write_text(data, encoding="utf-8")
                for name, folder in (folders or {}).items():
                    (staging / name).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(folder, staging / name)
        return cell_dir

    def bind(self, summary: Mapping[str, Any], *, study: str, cell: str, variant: str, seed: int | None,
             source: str, train_dir: Path | None = None) -> dict[str, Any]:
        """Bind ``study``'s cell id ``cell`` to the stored result ``summary`` (an index line), unless the
        index already binds it so. Returns the line."""
        record = index_record(summary, study=study, cell=cell, variant=variant, seed=seed, source=source,
                              path=self.relative(self.cell_dir(summary["key"])), train_path=self.relative(train_dir))
        with self.lock(self.index_path):
            current = None
            for line in read_jsonl(self.index_path):  # the latest line of this (study, cell), as written
                if line.get("study") == study and line.get("cell") == cell:
                    current = line
            same = current is not None and all(current.get(k) == record.get(k) for k in ("key", *BINDING_FIELDS))
            if not same:
                append_line(self.index_path, json.dumps(record, ensure_ascii=False, default=str))
        return record

    def discard_unbound(self, key: str) -> bool:
        """Remove ``cells/<key>`` when no binding refers to it any more (a result replaced by --overwrite)."""
        with self.lock(self.index_path):
            if any(r.get("key") == key for r in self.records()):
                return False
            with self.lock(self.cell_dir(key)):
                shutil.rmtree(self.cell_dir(key), ignore_errors=True)
        return True


# -- shipping results --------------------------------------------------------------------------------
SHIPPED_TRAINING_FILES = ("config.yaml", "done.json", "train_log.jsonl")


def export_studies(root: str | Path, studies: Sequence[str], dest: str | Path, *,
                   overwrite: bool = False) -> dict[str, int]:
    """Copy what the reports of ``studies`` read into the store ``dest``, without checkpoints.

    Why: ``results/`` ships measured results with the repository (as timm ships its results CSVs), so
    ``rvosbench report``, ``claims`` and ``leaderboard`` rebuild their tables and plots offline from a
    clone. A shipped store is read, not resumed: each bound cell is copied whole (summary, per-sample
    records, tables, strips), each training only as :data:`SHIPPED_TRAINING_FILES` (its config, log and
    done marker, a few hundred kB instead of its weights), plus the studies' own files and index lines.
    A study ``dest`` already holds is refused unless ``overwrite``, which replaces its bindings; cells
    and trainings are content-addressed, so copying one that is already there changes nothing.
    """
    root, dest = Path(root), Path(dest)
    require_store(root)
    bindings = [line for line in read_bindings(root) if line["study"] in studies]
    missing = [s for s in studies if not any(line["study"] == s for line in bindings)]
    if missing:
        raise UserError(f"no stored results for {', '.join(missing)}", where=str(root / INDEX),
                        hint="name studies this store holds (rvosbench report lists them) or pass --store")
    held = sorted({line["study"] for line in read_bindings(dest) if line["study"] in studies}) if is_store(dest) else []
    if held and not overwrite:
        raise UserError(f"{dest} already holds {', '.join(held)}", where=str(dest / INDEX),
                        hint="pass --overwrite to replace them")
    store = ResultStore(dest)
    store.open()
    counts = {"studies": len(studies), "cells": 0, "trainings": 0}
    for line in bindings:
        target = dest / line["path"]
        if not target.exists():
            shutil.copytree(root / line["path"], target,
                            ignore=shutil.ignore_patterns(".staging-*", ".work-*", "*.lock"))
            counts["cells"] += 1
        train = line.get("train_path")
        if train and not (dest / train).exists():
            (dest / train).mkdir(parents=True)
            for name in SHIPPED_TRAINING_FILES:
                if (root / train / name).is_file():
                    shutil.copy2(root / train / name, dest / train / name)
            counts["trainings"] += 1
    for study in studies:
        for name in STUDY_FILES:
            source = study_file(root, study, name)
            if source.is_file():
                store.study_dir(study).mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, store.study_dir(study) / name)
    with store.lock(store.index_path):
        kept = [line for line in read_jsonl(store.index_path) if line.get("study") not in studies]
        atomic_write_text(store.index_path, jsonl_text(kept + bindings))
    return counts


# -- earlier layouts ---------------------------------------------------------------------------------
def _legacy_study_dirs(root: Path) -> list[Path]:
    """Study folders of the first layout (``<store>/<study>/cells|train|baselines|plan.yaml``)."""
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if d.is_dir() and d.name not in RESERVED and not d.name.startswith(".")
                  and any((d / part).exists() for part in ("cells", "train", "baselines", "plan.yaml")))


def _train_key(folder: Path) -> str | None:
    import yaml

    try:
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    return str(config["train_key"]) if isinstance(config, dict) and config.get("train_key") else None


def _legacy_scan(root: Path, index_lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Bindings (in place) and the moves that bring a first-layout store to layout 2.

    The folders are the truth: a cell is bound under the cell id of its folder; its ``source`` comes
    from its old index line (``external``), else from its summary, else ``trained``.
    """
    sources = {str(line.get("path")): line.get("source") for line in index_lines if line.get("path")}
    bindings: list[dict[str, Any]] = []
    moves: list[tuple[str, str]] = []
    for study_dir in _legacy_study_dirs(root):
        study = study_dir.name
        trainings: dict[str, str] = {}  # old training folder (relative) -> its layout-2 folder
        for folder in sorted((study_dir / "train").glob("*")) + sorted((study_dir / "train" / ".previous").glob("*")):
            if not folder.is_dir() or folder.name == ".previous":
                continue
            old = folder.relative_to(root).as_posix()
            # a folder without its config (never started, or hand-made) keeps a name derived from its old place
            trainings[old] = f"{TRAININGS}/{_train_key(folder) or 'legacy-' + stable_hash(old)}"
            moves.append((old, trainings[old]))
        for kind in ("cells", "baselines"):
            for cell_dir in sorted((study_dir / kind).glob("*")):
                summary = read_summary(cell_dir) if not cell_dir.name.startswith(".") else None
                if summary is None:
                    continue
                old = cell_dir.relative_to(root).as_posix()
                source = "baseline" if kind == "baselines" else \
                    str(sources.get(old) or summary.get("source") or "trained")
                train_path = None
                if kind == "cells" and summary.get("seed") is not None:
                    train = f"{study}/train/{summary.get('variant')}-s{summary.get('seed')}"
                    train_path = train if (root / train).is_dir() else None
                bindings.append(index_record(summary, study=study, cell=cell_dir.name,
                                             variant=str(summary.get("variant")), seed=summary.get("seed"),
                                             source=source, path=old, train_path=train_path))
                if summary.get("key"):  # a cell without a key stays readable in place, and is not moved
                    moves.append((old, f"{CELLS}/{summary['key']}"))
        moves += [((study_dir / n).relative_to(root).as_posix(), f"{STUDIES}/{study}/{n}")
                  for n in STUDY_FILES if (study_dir / n).is_file()]
    return {"bindings": bindings, "moves": moves}


def migrate(root: str | Path) -> dict[str, int]:
    """Move a first-layout store to layout 2 in place; keys, results and checkpoints are unchanged.

    Crash-safe: the whole move list and the new index are written to ``migration.json`` first; a
    migration killed half-way is finished by the next call (moves already done are skipped).
    """
    root = Path(root)
    journal = root / JOURNAL
    if journal.is_file():
        plan = json.loads(journal.read_text(encoding="utf-8"))
    else:
        lines = list(read_jsonl(root / INDEX))
        scan = _legacy_scan(root, [line for line in lines if "cell" not in line])
        where = dict(scan["moves"])
        bindings = [{**b, "path": where[b["path"]], "train_path": where.get(b["train_path"])}
                    for b in scan["bindings"] if b["path"] in where]
        plan = {"moves": scan["moves"], "index": [line for line in lines if "cell" in line] + bindings,
                "studies": sorted({d.name for d in _legacy_study_dirs(root)})}
        atomic_write_json(journal, plan)
    counts = {"cells": 0, "trainings": 0, "studies": len(plan["studies"])}
    for old, new in plan["moves"]:
        source, target = root / old, root / new
        if source.exists() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        elif source.is_dir() and target.is_dir():  # the same cell or training stored by two studies
            if (source / "done.json").is_file() and not (target / "done.json").is_file():
                shutil.rmtree(target)  # keep the finished training, not a half-done twin
                os.replace(source, target)
            else:
                shutil.rmtree(source)
        kind = new.split("/", 1)[0]
        counts["cells"] += kind == CELLS
        counts["trainings"] += kind == TRAININGS
    atomic_write_text(root / INDEX, jsonl_text(plan["index"]))
    for study in plan["studies"]:
        _remove_leftovers(root / study)
    atomic_write_json(root / MARKER, {"layout": LAYOUT})
    journal.unlink()
    return counts


def _remove_leftovers(folder: Path) -> None:
    """Delete lock files, staging folders of killed runs and empty folders; keep anything else."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file() and path.suffix == ".lock":
            path.unlink()
        elif path.is_dir() and path.name.startswith((".staging-", ".work-")):
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()
