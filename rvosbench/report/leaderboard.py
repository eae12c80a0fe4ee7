"""The leaderboard: the best stored result per (model, variant) per benchmark, next to the paper's number.

Rules (also in docs/reports.md):

* The index is read by the store's policy (:func:`rvosbench.core.store.read_bindings`): one row per
  (study, cell), the latest result of each, so a result is never averaged with the one it replaced and
  a cell is never counted twice. A cell shared by two studies is a row of each.
* Seeds of one study are averaged first (a study's result is its mean over seeds, as in the ablation
  table); the best *study* per (source, model, variant, benchmark) is then kept, ranked by the
  benchmark's primary metric (the first of the spec's ``metrics`` it reports). Picking the best single
  seed would flatter models with many seeds.
* Each row's 95% CI is the bootstrap CI over videos of its primary metric's per-video scores (averaged
  over the study's seeds), as in the ablation table; a metric without per-sample values has none.
* A row is flagged ``partial`` when any of its cells was scored on part of a dataset: ``eval.limit``, or
  a copy whose counts differ from the released dataset's (the loaders' DatasetCountWarning). Results
  stored before the flag existed show ``?``.
* Externally scored predictions (``source: external``, from ``rvosbench eval --name``) are rows of their
  own, never merged with trained runs.
* Published numbers come from the model's card (``card.published``, or the card file named by
  ``card.file``); see :func:`published_entries` for the accepted shapes. Δ = reproduced − published.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

import rvosbench
from rvosbench.core.errors import ConfigError
from rvosbench.core.stats import bootstrap_ci, per_video
from rvosbench.report.ablation import record_field, select_benchmarks, slug
from rvosbench.report.document import Document, Section, parse_formats, write_document
from rvosbench.report.palette import Palette, plt, save
from rvosbench.report.spec import load_spec
from rvosbench.core.store import REPORTS
from rvosbench.report.store import load_index, read_records
from rvosbench.report.table import Cell, Column, Table, is_missing, pct, signed_pct, text_cell


# ------------------------------------------------------------------------------------ published numbers
def _fraction(value: Any) -> float | None:
    """Papers print percentages; stores hold fractions. Values above 1 are read as percent."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None  # e.g. "n/a": the card says the number is not available
    return float(value) / 100 if value > 1 else float(value)


def _entries(item: Mapping[str, Any], benchmark: str | None = None) -> list[dict[str, Any]]:
    benchmark = str(item.get("benchmark") or benchmark or "")
    split = item.get("split")
    if split and "/" not in benchmark:
        benchmark = f"{benchmark}/{split}"
    source = str(item.get("source") or item.get("ref") or item.get("url") or "")
    note = str(item.get("note") or item.get("protocol") or "")
    if "metric" in item:
        values = {str(item["metric"]): item.get("value")}
    else:
        values = dict(item.get("metrics") or {k: v for k, v in item.items() if isinstance(v, (int, float))
                                               and k not in ("split",)})
    return [{"benchmark": benchmark, "metric": m, "value": _fraction(v), "source": source, "note": note}
            for m, v in values.items() if _fraction(v) is not None]


def published_entries(card: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Normalise a card's ``published`` numbers to ``{benchmark, metric, value (fraction), source, note}``.

    Accepted shapes (values in % as papers print them, or fractions ≤ 1; non-numbers are skipped)::

        published:
          - {benchmark: ref_youtube_vos/valid, metric: J&F, value: 62.9, source: "ReferFormer docs"}
          - {benchmark: a2d_sentences, split: test, metrics: {mAP: 55.0, oIoU: 78.6}, source: ...}
        published: {ref_davis17/valid: {J&F: 61.1, source: ...}}
    """
    card = dict(card or {})
    published = card.get("published")
    if published is None and card.get("file") and Path(str(card["file"])).is_file():
        data = yaml.safe_load(Path(str(card["file"])).read_text(encoding="utf-8")) or {}
        published = (data.get("card") or {}).get("published") if isinstance(data, dict) else None
    entries: list[dict[str, Any]] = []
    if isinstance(published, Mapping):
        for benchmark, item in published.items():
            entries += _entries(item, str(benchmark)) if isinstance(item, Mapping) else []
    elif isinstance(published, list):
        for item in published:
            entries += _entries(item) if isinstance(item, Mapping) else []
    return entries


def _matches(published_benchmark: str, benchmark: str) -> bool:
    """``ref_davis17`` (no split) matches any split of it; ``name/split`` must match exactly."""
    return published_benchmark == benchmark or ("/" not in published_benchmark
                                                 and benchmark.split("/")[0] == published_benchmark)


# ------------------------------------------------------------------------------------------- the board
def _select(frame: pd.DataFrame, column: str, patterns: list[str] | None) -> pd.DataFrame:
    if not patterns:
        return frame
    keep = frame[column].map(lambda v: any(fnmatch.fnmatchcase(str(v), p) for p in patterns))
    if not keep.any():
        raise ConfigError(f"no stored run has a {column} matching {patterns}", where=f"leaderboard spec ({column}s)",
                          hint=f"the store has: {', '.join(sorted(set(frame[column].astype(str))))}")
    return frame[keep]


def _partial_notes(values: pd.Series) -> list[str] | None:
    """The partial-data notes of a row's cells: None when no cell recorded them (stored before the flag)."""
    known = [v for v in values if isinstance(v, list)]
    return sorted({note for notes in known for note in notes}) if known else None


def _primary_ci(cells: list[str], seeds: list[int], metric: str) -> tuple[float, float, int]:
    """Bootstrap CI over videos of ``metric``'s per-video scores in ``cells`` (seeds averaged per video)."""
    frames = [read_records(Path(cell), int(seed or 0)) for cell, seed in zip(cells, seeds)]
    records = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    field = record_field(records, metric) if not records.empty else None
    if field is None:
        return float("nan"), float("nan"), 0
    videos = per_video(records, field)
    low, high = bootstrap_ci(videos.to_numpy())
    return low, high, len(videos)


def leaderboard_rows(index: pd.DataFrame, spec: dict[str, Any], benchmark_filter: str | None = None) -> pd.DataFrame:
    """One row per (source, model, variant, benchmark): the best study's seed-averaged metrics."""
    if not spec.get("external", True):
        index = index[index["source"] != "external"]
    index = _select(index, "study", spec.get("studies"))
    index = _select(index, "model", spec.get("models"))
    # a bare name (``ref_davis17``) selects all of its splits
    patterns = [benchmark_filter, f"{benchmark_filter}/*"] if benchmark_filter else spec.get("benchmarks")
    benchmarks = select_benchmarks(list(dict.fromkeys(index["benchmark"])), patterns,
                                   "--benchmark" if benchmark_filter else "leaderboard spec (benchmarks)")
    metric_columns = [c for c in index.columns if c.startswith("m:")]
    groups = ["source", "study", "model", "variant", "benchmark"]
    studies = (index[index["benchmark"].isin(benchmarks)]
               .groupby(groups, sort=False)
               .agg(**{c: (c, "mean") for c in metric_columns}, n_seeds=("seed", "nunique"),
                    card=("card", "first"), cells=("dir", list), seeds=("seed", list),
                    partial=("partial", _partial_notes)).reset_index())
    rows = []
    for benchmark in benchmarks:
        part = studies[studies["benchmark"] == benchmark]
        primary = next((m for m in spec["metrics"] if f"m:{m}" in part and part[f"m:{m}"].notna().any()), None)
        if primary is None:
            continue
        part = part.sort_values(f"m:{primary}", ascending=False, na_position="last")
        best = part.drop_duplicates(["source", "model", "variant"], keep="first").copy()
        best["primary"] = primary
        intervals = [_primary_ci(cells, seeds, primary) for cells, seeds in zip(best["cells"], best["seeds"])]
        best["ci_low"], best["ci_high"], best["n_videos"] = (list(v) for v in zip(*intervals)) if intervals else ([],) * 3
        rows.append(best)
    if not rows:
        raise ConfigError("no stored run reports any of the leaderboard's metrics",
                          where="leaderboard spec (metrics)", hint=f"metrics asked: {spec['metrics']}")
    return pd.concat(rows, ignore_index=True)


def _published_for(card: Mapping[str, Any], benchmark: str) -> dict[str, dict[str, Any]]:
    return {e["metric"]: e for e in published_entries(card) if _matches(e["benchmark"], benchmark)}


def benchmark_table(rows: pd.DataFrame, benchmark: str, spec: dict[str, Any]) -> Table:
    """Ranked rows of one benchmark: reproduced metrics, then paper number and Δ for published metrics."""
    part = rows[rows["benchmark"] == benchmark].reset_index(drop=True)
    decimals = int(spec["decimals"])
    metrics = [m for m in spec["metrics"] if f"m:{m}" in part and part[f"m:{m}"].notna().any()]
    published = [_published_for(card, benchmark) if spec.get("published", True) else {} for card in part["card"]]
    # the primary metric always gets a paper column, so a missing published number is visible as such
    paper_metrics = [m for m in metrics if any(m in p for p in published)
                     or (m == part["primary"].iloc[0] and spec.get("published", True))]
    columns = [Column("#"), Column("Model", numeric=False), Column("Variant", numeric=False),
               Column("Source", numeric=False), Column("Study", numeric=False), Column("Seeds"),
               Column("Data", numeric=False)]
    columns += [Column(metrics[0], "reproduced"), Column(f"{metrics[0]} 95% CI", "reproduced")]
    columns += [Column(m, "reproduced") for m in metrics[1:]]
    for m in paper_metrics:
        columns += [Column(m, "paper"), Column(f"Δ {m}", "paper")]
    columns += [Column("Paper source", numeric=False)] if paper_metrics else []
    best = {m: part[f"m:{m}"].max() for m in metrics}
    table_rows, data = [], []
    for rank, ((_, row), paper) in enumerate(zip(part.iterrows(), published), 1):
        notes = row["partial"]
        data_text = "?" if notes is None else ("partial" if notes else "full")
        data_title = "stored before rvosbench recorded it" if notes is None else ("; ".join(notes) or "every sample")
        cells = [Cell(str(rank), rank), text_cell(row["model"]), text_cell(row["variant"]),
                 text_cell(row["source"]), text_cell(row["study"]), Cell(str(row["n_seeds"]), row["n_seeds"]),
                 Cell(data_text, title=data_title)]
        for m in metrics:
            value, entry = row[f"m:{m}"], paper.get(m)
            cells.append(Cell(pct(value, decimals), value,
                              bold=not is_missing(value) and round(value, 6) == round(best[m], 6)))
            if m == metrics[0]:
                ci = "–" if is_missing(row["ci_low"]) else f"[{pct(row['ci_low'], decimals)}, {pct(row['ci_high'], decimals)}]"
                cells.append(Cell(ci, row["ci_low"], title=f"bootstrap over {row['n_videos']} videos"))
            data.append({"benchmark": benchmark, "rank": rank, "model": row["model"], "variant": row["variant"],
                         "source": row["source"], "study": row["study"], "n_seeds": row["n_seeds"], "metric": m,
                         "reproduced": value, "ci_low": row["ci_low"] if m == metrics[0] else np.nan,
                         "ci_high": row["ci_high"] if m == metrics[0] else np.nan, "data": data_text,
                         "published": entry["value"] if entry else np.nan,
                         "delta": value - entry["value"] if entry else np.nan,
                         "published_source": entry["source"] if entry else ""})
        for m in paper_metrics:
            value, entry = row[f"m:{m}"], paper.get(m)
            if entry:
                cells += [Cell(pct(entry["value"], decimals), entry["value"], title=entry["note"]),
                          Cell(signed_pct(value - entry["value"], decimals), value - entry["value"])]
            else:
                cells += [text_cell("–"), text_cell("–")]
        if paper_metrics:
            sources = sorted({e["source"] for e in paper.values() if e["source"]})
            cells.append(text_cell("; ".join(sources) or ("none in the model card" if row["card"] else "no card")))
        table_rows.append(cells)
    notes = [f"Ranked by {part['primary'].iloc[0]}; values ×100; seeds of a study averaged, best study per "
             "(model, variant) kept; 95% CI: bootstrap over videos; Data: partial = scored on part of the dataset "
             "(eval.limit or a partial copy; hover for why), ? = not recorded; Δ = reproduced − paper; "
             "external = predictions scored by rvosbench eval."]
    return Table(name=f"leaderboard_{slug(benchmark)}", title=f"Leaderboard: {benchmark}", columns=columns,
                 rows=table_rows, data=pd.DataFrame(data), notes=notes)


def unreproduced_table(rows: pd.DataFrame, index_benchmarks: list[str], decimals: int) -> Table | None:
    """Published numbers of the stored models on benchmarks the store has no run of."""
    data = []
    for model, card in rows.drop_duplicates("model")[["model", "card"]].itertuples(index=False):
        for entry in published_entries(card):
            if not any(_matches(entry["benchmark"], b) for b in index_benchmarks):
                data.append({"model": model, **entry})
    if not data:
        return None
    frame = pd.DataFrame(data)
    columns = [Column("Model", numeric=False), Column("Benchmark", numeric=False), Column("Metric", numeric=False),
               Column("Paper"), Column("Source", numeric=False)]
    cells = [[text_cell(r.model), text_cell(r.benchmark), text_cell(r.metric), Cell(pct(r.value, decimals), r.value),
              text_cell(r.source or "–")] for r in frame.itertuples(index=False)]
    return Table(name="leaderboard_unreproduced", title="Published numbers not reproduced yet", columns=columns,
                 rows=cells, data=frame, notes=["From the stored models' cards; no stored run on these benchmarks."])


def leaderboard_plot(table: Table, out_dir: Path) -> Path | None:
    """Horizontal bars of the primary metric per row in the model's colour (the same in every plot), its
    95% CI as a line, the paper's number as a white diamond; partial-data rows hatched and labelled."""
    data = table.data
    if data.empty:
        return None
    primary = data["metric"].iloc[0]
    rows = data[data["metric"] == primary].sort_values("rank", ascending=False)
    palette = Palette(rows.sort_values("rank")["model"])
    labels = [f"{r.model} / {r.variant}" + (" (external)" if r.source == "external" else "")
              + (" (partial data)" if r.data == "partial" else "") for r in rows.itertuples()]
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.42 * len(rows)))
    y = np.arange(len(rows))
    ax.barh(y, 100 * rows["reproduced"], color=[palette[m] for m in rows["model"]], alpha=0.9,
            hatch=["//" if d == "partial" else "" for d in rows["data"]], edgecolor="white")
    ax.hlines(y, 100 * rows["ci_low"], 100 * rows["ci_high"], color="black", linewidth=1.4, label="95% CI")
    has_paper = rows["published"].notna()
    if has_paper.any():
        ax.scatter(100 * rows["published"][has_paper], y[has_paper.to_numpy()], marker="D", s=46, color="white",
                   edgecolor="black", zorder=3, label="paper")
    for yi, value, high in zip(y, rows["reproduced"], rows["ci_high"]):
        ax.text(100 * np.nanmax([value, high]) + 0.8, yi, f"{100 * value:.1f}", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"{primary} (×100)")
    top = np.nanmax(np.r_[rows["reproduced"].to_numpy(float), rows["ci_high"].to_numpy(float),
                          rows["published"].to_numpy(float)])
    ax.set_xlim(0, min(100.0, max(5.0, 100 * top * 1.12 + 1)))
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(table.title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return save(fig, out_dir / f"{table.name}.png")


def build_leaderboard(store: str | Path, spec: dict[str, Any], out_dir: Path,
                      benchmark: str | None = None) -> Document:
    """The leaderboard document (tables per benchmark, plots written into ``out_dir``)."""
    index = load_index(store)
    rows = leaderboard_rows(index, spec, benchmark)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = []
    for name in dict.fromkeys(rows["benchmark"]):
        table = benchmark_table(rows, name, spec)
        plot = leaderboard_plot(table, out_dir)
        sections.append(Section(name, tables=[table], plots=[plot] if plot else []))
    if spec.get("published", True) and spec.get("unreproduced", True):
        extra = unreproduced_table(rows, list(dict.fromkeys(index["benchmark"])), int(spec["decimals"]))
        if extra is not None:
            sections.append(Section("Published numbers not reproduced yet", tables=[extra]))
    intro = [f"{len(index)} indexed results in {Path(store) / 'index.jsonl'}; "
             f"{rows[['model', 'variant']].drop_duplicates().shape[0]} (model, variant) pairs."]
    footer = [f"Generated by rvosbench {rvosbench.__version__}; regenerate with: rvosbench leaderboard --store {store}"]
    return Document(stem="leaderboard", title=str(spec.get("title") or "Leaderboard"), intro=intro,
                    sections=sections, footer=footer)


def write_leaderboard(store: str | Path = "runs", out_dir: Path | None = None,
                      spec: Mapping[str, Any] | str | Path | None = None, *, benchmark: str | None = None,
                      formats: str | list[str] | None = None) -> tuple[Document, list[Path]]:
    """Build and write the leaderboard; returns the document (for printing) and the files written."""
    resolved = load_spec(spec, "leaderboard")
    names = parse_formats(formats if formats is not None else resolved["formats"])
    out_dir = Path(out_dir) if out_dir is not None else Path(store) / REPORTS / "leaderboard"
    document = build_leaderboard(store, resolved, out_dir, benchmark)
    plot_files = [p for section in document.sections for p in section.plots]
    return document, write_document(document, out_dir, names) + plot_files
