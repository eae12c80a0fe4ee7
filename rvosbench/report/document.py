"""A report as a format-neutral document: titled sections of tables, plots, text and cell details.

The study report and the leaderboard both build a :class:`Document`; each output format is a writer
registered in ``REPORTERS`` under its ``--formats`` name (``md``, ``tex``, ``csv``, ``html``), so a plug-in
can add another format by registering a function ``(document, out_dir) -> list[Path]``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.core.registry import REPORTERS
from rvosbench.report.table import Table


@dataclass
class Section:
    heading: str
    tables: list[Table] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    details: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (summary line, fields)


@dataclass
class Document:
    stem: str  # output file stem, e.g. "jsc"
    title: str
    intro: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)

    @property
    def tables(self) -> list[Table]:
        return [table for section in self.sections for table in section.tables]


DEFAULT_FORMATS = ("md", "tex", "csv", "html")


def parse_formats(value: str | Iterable[str] | None) -> list[str]:
    """``"md,tex"`` or a list -> checked format names (unknown ones fail with did-you-mean)."""
    if value is None:
        return list(DEFAULT_FORMATS)
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if str(v).strip()]
    for name in names:
        if name not in REPORTERS:
            raise ConfigError(f"unknown report format '{name}'", where="--formats",
                              hint=did_you_mean(name, REPORTERS.names()))
    return names


def write_document(document: Document, out_dir: Path, formats: Iterable[str]) -> list[Path]:
    """Write ``document`` in every format; returns the files written, in order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in formats:
        writer = REPORTERS.get(name)
        written.extend(writer(document, out_dir))
    return written
