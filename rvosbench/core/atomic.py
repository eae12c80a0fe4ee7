"""Crash-safe file and folder writes: a reader sees the old version or the new one, never half of one.

A run can be killed at any instant (``kill -9``, a full disk, a preempted node). Every file the engine
leaves behind is therefore written to a temporary name in the same folder, flushed to disk, and moved
into place with ``os.replace`` (atomic on POSIX within one file system). Folders (evaluation cells) are
staged under a hidden temporary name and renamed into place when complete. Left-over staging folders
from a killed run start with :data:`STAGING_PREFIX` and are removed by :func:`clean_staging`.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

STAGING_PREFIX = ".staging-"


def _fsync_dir(folder: Path) -> None:
    """Persist a rename: the directory entry itself must reach the disk too."""
    with contextlib.suppress(OSError):  # some file systems (and Windows) cannot open folders
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def jsonl_text(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` through an in-memory buffer, then an atomic write (checkpoints are never torn)."""
    buffer = io.BytesIO()
    import torch  # here, so that readers of the store (reports) do not load torch

    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def append_line(path: str | Path, line: str) -> None:
    """Append one line with a single ``write`` and fsync; the caller holds the file's lock.

    A writer killed mid-line leaves a torn fragment without a trailing newline; it is cut off first
    (it was never a complete record, and whatever it described is still on disk to be re-recorded),
    so the file stays valid JSON lines for every reader.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = b""
    with open(path, "rb+" if path.exists() else "wb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size > 0:
            handle.seek(max(0, size - 65536))
            tail = handle.read()
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                if cut >= 0 or size <= 65536:
                    handle.truncate(size - len(tail) + cut + 1)
                else:  # a fragment longer than the tail we read: keep it on a line of its own
                    prefix = b"\n"
        handle.seek(0, os.SEEK_END)
        handle.write(prefix + line.rstrip("\n").encode("utf-8") + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``final`` whole, on error it is removed.

    The old ``final`` (if any) is moved aside first and deleted after the new one is in place, so at
    every instant the path holds either the complete old folder, nothing, or the complete new one.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{final.name}@", dir=final.parent))
    try:
        yield staging
        for entry in staging.rglob("*"):
            if entry.is_file():
                with open(entry, "rb") as handle:
                    os.fsync(handle.fileno())
        old = None
        if final.exists():
            old = final.parent / f"{STAGING_PREFIX}{final.name}@old{os.getpid()}"
            os.replace(final, old)
        os.replace(staging, final)
        _fsync_dir(final.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def clean_staging(final: str | Path) -> int:
    """Remove what killed runs left while writing ``final`` (staging folders, temporary files).

    Call it only while holding the lock that guards ``final``: another live run may be staging it.
    Returns the number of entries removed.
    """
    final = Path(final)
    if not final.parent.is_dir():
        return 0
    removed = 0
    for entry in final.parent.iterdir():
        if entry.is_dir() and entry.name.startswith(STAGING_PREFIX) \
                and entry.name[len(STAGING_PREFIX):].rpartition("@")[0] == final.name:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        elif entry.is_file() and entry.name.startswith(f".{final.name}.") and entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)
            removed += 1
    return removed
