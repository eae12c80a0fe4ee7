"""Open user-supplied zips only when every member path stays inside the archive's own tree.

A member named ``/etc/x`` or ``../../x`` ("zip slip") is harmless while rvosbench only reads members,
but such an archive is never a valid prediction or submission, and tools that later extract it would
write outside their target. Refusing it up front gives one clear error instead of a surprise later.
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from rvosbench.core.errors import PredictionError


def unsafe_member(name: str, info: zipfile.ZipInfo | None = None) -> str | None:
    """Why ``name`` is unsafe (absolute, drive-qualified, ``..``, symlink), or None when it is fine."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "a '..' path"
    if info is not None and stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def open_zip(path: str | Path) -> zipfile.ZipFile:
    """Open a zip for reading, refusing corrupt archives and unsafe member paths (PredictionError)."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise PredictionError(f"cannot open the zip: {error}", where=str(path),
                              hint="pass a zip written by rvosbench or by `zip -r`") from error
    for info in archive.infolist():
        reason = unsafe_member(info.filename, info)
        if reason:
            archive.close()
            raise PredictionError(f"refused: member {info.filename!r} is {reason}", where=str(path),
                                  hint="rebuild the zip from inside the prediction folder (cd folder && zip -r ../p.zip .)")
    return archive
