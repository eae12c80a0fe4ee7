"""Helpers shared by the core tests (a uniquely named module: test folders share sys.path)."""
from pathlib import Path


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
