"""A format-neutral table: what every writer (Markdown, LaTeX, CSV, HTML) renders.

Builders decide *what* a cell says (text, bold, significance mark, tooltip, sort value); writers decide
only *how* to spell it. Cell text uses plain Unicode (``±``, ``−``, ``Δ``); the LaTeX writer maps those
to math. ``data`` is the same content as a tidy frame of raw numbers (fractions, not ×100), which is what
the CSV holds, so a spreadsheet or pandas gets the numbers rather than formatted strings.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Column:
    """``label`` under an optional ``group`` header (e.g. the benchmark); ``numeric`` sorts by value."""

    label: str
    group: str = ""
    numeric: bool = True


@dataclass(frozen=True)
class Cell:
    text: str
    value: float | None = None  # sort key in the HTML page
    bold: bool = False
    mark: str = ""  # e.g. "†", printed after the text
    title: str = ""  # tooltip in the HTML page (exact p-value, n, …)


@dataclass
class Table:
    name: str  # file stem, e.g. "jsc_ablation"
    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    data: pd.DataFrame  # tidy raw numbers (the CSV)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.name}: a row has {len(row)} cells for {len(self.columns)} columns")

    @property
    def groups(self) -> list[tuple[str, int]]:
        """Consecutive runs of the same group label: ``[(group, span), ...]``."""
        runs: list[tuple[str, int]] = []
        for column in self.columns:
            if runs and runs[-1][0] == column.group:
                runs[-1] = (column.group, runs[-1][1] + 1)
            else:
                runs.append((column.group, 1))
        return runs


def is_missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pct(value: float | None, decimals: int = 1) -> str:
    """A fraction in [0, 1] printed ×100, or an en dash when missing."""
    return "–" if is_missing(value) else f"{100 * value:.{decimals}f}"


def signed_pct(value: float | None, decimals: int = 1) -> str:
    """A signed difference ×100 with a real minus sign (−1.2, +0.4)."""
    if is_missing(value):
        return "–"
    text = f"{100 * value:+.{decimals}f}"
    return text.replace("-", "−")


def text_cell(text: str) -> Cell:
    return Cell(text=text, value=None)
