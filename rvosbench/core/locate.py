"""Find configuration files by short name (``proxyformer_tiny``, ``synth``) or by path.

Studies refer to model cards and benchmark configs by name so they read well; the files live in the
top-level ``models/`` and ``benchmarks/`` folders. A name is looked up in ``<dir>/<kind>/<name>.yaml``
for the folder the referring file is in and each of its parents, then the current directory, then the
rvosbench checkout itself, so studies work from anywhere inside the repository.
"""
from __future__ import annotations

from pathlib import Path

from rvosbench.core.errors import ConfigError, did_you_mean

REPO_ROOT = Path(__file__).resolve().parents[2]


def search_dirs(base_dir: Path | None) -> list[Path]:
    dirs: list[Path] = []
    if base_dir is not None:
        base_dir = base_dir.resolve()
        dirs.extend([base_dir, *base_dir.parents])
    dirs.extend([Path.cwd(), REPO_ROOT])
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def locate(kind: str, name: str, base_dir: Path | None = None, where: str | None = None) -> Path:
    """Resolve ``name`` (a path, or a short name under ``<kind>/``) to an existing YAML file."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml"):
        for root in ([base_dir] if base_dir else []) + [Path.cwd(), REPO_ROOT]:
            path = (root / candidate) if not candidate.is_absolute() else candidate
            if path.is_file():
                return path
        raise ConfigError(f"{kind[:-1]} file not found: {name}", where=where, hint="check the path")
    known: set[str] = set()
    for root in search_dirs(base_dir):
        folder = root / kind
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
        if folder.is_dir():
            known.update(p.stem for p in folder.glob("*.yaml"))
    raise ConfigError(f"no {kind[:-1]} named '{name}'", where=where,
                      hint=f"{did_you_mean(name, known)} Files live in {kind}/<name>.yaml")
