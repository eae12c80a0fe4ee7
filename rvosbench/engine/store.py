"""The result store: one folder per evaluated cell plus an append-only index (docs/architecture.md).

```
<root>/index.jsonl                      one line per finished evaluation cell (summary + path + source)
<root>/<study>/cells/<cell id>/         config.yaml env.json summary.json samples.jsonl timings.json ...
<root>/<study>/train/<variant>-s<seed>/ checkpoints and the training log
```

Design choices:

* **The cell folder is the truth, the index is derived.** A cell folder appears whole (staged, then
  renamed) and is then indexed. A run killed between the two leaves a complete folder without an
  index line; :meth:`ResultStore.finished` finds it by its key and the line is added on the next run,
  so nothing is lost and nothing is written twice.
* **Keys are content hashes** of everything that decides a number: the resolved model, card, training
  and evaluation configs, the seed, the checkpoint's sha256, the benchmark fingerprint and the metric
  version (:func:`store_key`). Paths that only say where a file lives (the model card's location on
  disk) are left out so a moved checkout keeps its results.
* **Concurrency**: appends to the index hold a :class:`filelock.FileLock`; each cell has its own lock so
  two runs never train or evaluate the same cell at once. The locks are OS-level (fcntl) and die with
  their process, so a ``kill -9`` never leaves a stale lock behind.
* Readers skip a torn last line (a writer killed mid-write) and keep the first line of each key.
"""
from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from rvosbench.core.hashing import stable_hash
from rvosbench.core.locate import REPO_ROOT
from rvosbench.core.atomic import append_line, clean_staging, staged_dir

INDEX_NAME = "index.jsonl"
LOCK_SUFFIX = ".lock"


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
    """Identity of an evaluation result (the result store's key)."""
    return stable_hash({"cell": portable(cell_config), "checkpoint_sha256": checkpoint_sha256,
                        "fingerprint": fingerprint, "metric_version": str(metric_version)})


def git_commit() -> dict[str, Any]:
    """The checkout's commit and whether it has local changes (None when git is unavailable)."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def environment() -> dict[str, Any]:
    """Versions and machine facts stored with every cell (``env.json``)."""
    import numpy
    import torch

    import rvosbench

    info: dict[str, Any] = {
        "rvosbench": rvosbench.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git": git_commit(),
    }
    return info


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL file, skipping torn or invalid lines with a warning."""
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


class ResultStore:
    """A results folder (default ``runs/``): cells, training folders, the index and their locks."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.index_path = self.root / INDEX_NAME
        self._locks: dict[str, FileLock] = {}

    # -- layout --------------------------------------------------------------------------------
    def study_dir(self, study: str) -> Path:
        return self.root / study

    def cell_dir(self, study: str, cell_id: str) -> Path:
        return self.study_dir(study) / "cells" / cell_id

    def train_dir(self, study: str, train_id: str) -> Path:
        return self.study_dir(study) / "train" / train_id

    def lock(self, path: Path) -> FileLock:
        """The lock guarding ``path`` (a cell or training folder, or the index).

        One instance per path, so the lock is re-entrant within this process (a runner holding a
        cell's lock can publish the cell, which takes it again).
        """
        name = str(path) + LOCK_SUFFIX
        if name not in self._locks:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._locks[name] = FileLock(name)
        return self._locks[name]

    # -- index ---------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """Every indexed result, first line per key, in the order written."""
        seen: set[str] = set()
        records = []
        for record in read_jsonl(self.index_path):
            key = record.get("key")
            if key and key not in seen:
                seen.add(key)
                records.append(record)
        return records

    def index(self, summary: Mapping[str, Any], cell_dir: Path, source: str = "trained") -> dict[str, Any]:
        """Append ``summary`` (with ``path`` and ``source``) to the index unless its key is there."""
        record = {**summary, "path": os.path.relpath(cell_dir, self.root), "source": source}
        with self.lock(self.index_path):
            if not any(r.get("key") == record["key"] for r in read_jsonl(self.index_path)):
                append_line(self.index_path, json.dumps(record, ensure_ascii=False, default=str))
        return record

    # -- cells ---------------------------------------------------------------------------------
    @staticmethod
    def read_summary(cell_dir: Path) -> dict[str, Any] | None:
        try:
            return json.loads((cell_dir / "summary.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def finished(self, cell_dir: Path, key: str) -> dict[str, Any] | None:
        """The summary when ``cell_dir`` holds a complete result for ``key``."""
        summary = self.read_summary(cell_dir)
        if summary is None or summary.get("key") != key:
            return None
        return summary

    def publish(self, cell_dir: Path, summary: Mapping[str, Any], files: Mapping[str, str | bytes],
                folders: Mapping[str, Path] | None = None, source: str | None = "trained") -> dict[str, Any]:
        """Write a cell folder atomically (``files`` by relative name, plus ``summary.json``) and index it.

        ``folders`` maps relative names to already written folders (e.g. saved prediction masks) that
        are moved into the cell. ``source=None`` keeps the cell out of the index (trivial baselines).
        Holds the cell's lock while replacing it.
        """
        with self.lock(cell_dir):
            clean_staging(cell_dir)
            with staged_dir(cell_dir) as staging:
                for name, content in {**files, "summary.json": json.dumps(summary, indent=2, default=str)}.items():
                    target = staging / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if isinstance(content, bytes):
                        target.write_bytes(content)
                    else:
                        target.write_text(content, encoding="utf-8")
                for name, folder in (folders or {}).items():
                    (staging / name).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(folder, staging / name)
            return self.index(summary, cell_dir, source) if source else dict(summary)


def now() -> str:
    """Creation stamp stored in summaries (local time with offset, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
