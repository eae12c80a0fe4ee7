"""Where a result came from: the versions, machine and commit stored with every cell (``env.json``)."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from typing import Any

from rvosbench.core.locate import REPO_ROOT


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
