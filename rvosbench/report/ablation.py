"""The ablation table and its breakdowns, computed from a study's stored cells.

Every number here is recomputed from the store so it can be traced back to per-sample records:

* **value** = mean over seeds of the cell summaries' metric (the protocol's own aggregate, e.g. the
  per-expression mean J&F), ± the sample standard deviation over seeds (ddof = 1; omitted with one seed);
* **Δ** = variant mean − baseline mean;
* **95% CI** = bootstrap CI over videos of the mean per-video score (per-video = mean of that video's
  per-expression values, averaged over seeds), see :mod:`rvosbench.core.stats`;
* **†** = paired Wilcoxon signed-rank test over the same per-video scores vs the baseline, p < alpha.

CI and † need a per-sample value for the metric. Dataset-level metrics without one (A2D ``oIoU``, ``mAP``)
show ``–`` there; ``mIoU`` uses the per-sample ``IoU``.
"""
from __future__ import annotations

import fnmatch
from typing import Any

import numpy as np
import pandas as pd

from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.core.stats import compare, per_video
from rvosbench.report.store import Study
from rvosbench.report.table import Cell, Column, Table, is_missing, pct, signed_pct, text_cell

# Summary metric -> the per-sample record field it averages (when the names differ).
RECORD_FIELD = {"mIoU": "IoU"}


def slug(text: str) -> str:
    """File-name-safe form of a benchmark or study name (``synth/test`` -> ``synth-test``)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")


def record_field(records: pd.DataFrame, metric: str) -> str | None:
    name = RECORD_FIELD.get(metric, metric)
    return name if name in records.columns and records[name].notna().any() else None


def select_benchmarks(available: list[str], patterns: list[str] | None, where: str) -> list[str]:
    """``available`` filtered by fnmatch ``patterns`` (in pattern order); None keeps all."""
    if not patterns:
        return available
    chosen = [b for p in patterns for b in available if fnmatch.fnmatchcase(b, p)]
    if not chosen:
        raise ConfigError(f"no benchmark matches {patterns}", where=where,
                          hint=f"the store has: {', '.join(available)}")
    return list(dict.fromkeys(chosen))


def select_variants(study: Study, spec: dict[str, Any]) -> tuple[list[str], str]:
    """Rows to show and the baseline, as the spec asks (defaults: the plan's)."""
    variants = spec.get("variants") or study.variants
    for name in variants:
        if name not in study.variants:
            raise ConfigError(f"variant '{name}' has no finished cell in study {study.name} ({study.store})", where="report spec (variants)",
                              hint=did_you_mean(name, study.variants))
    baseline = spec.get("baseline") or study.baseline
    if baseline not in study.variants:
        raise ConfigError(f"baseline '{baseline}' has no finished cell", where="report spec (baseline)",
                          hint=did_you_mean(baseline, study.variants))
    if baseline not in variants:
        variants = [baseline, *variants]
    return list(variants), baseline


def metrics_for(summaries: pd.DataFrame, benchmark: str, wanted: list[str]) -> list[str]:
    """The wanted metrics that this benchmark's summaries report, in the wanted order."""
    rows = summaries[summaries["benchmark"] == benchmark]
    return [m for m in wanted if f"m:{m}" in rows.columns and rows[f"m:{m}"].notna().any()]


def ablation_stats(study: Study, spec: dict[str, Any]) -> pd.DataFrame:
    """Tidy frame: one row per (variant, benchmark, metric) with every statistic the table shows."""
    variants, baseline = select_variants(study, spec)
    benchmarks = select_benchmarks(study.benchmarks, spec.get("benchmarks"), "report spec (benchmarks)")
    confidence, alpha = float(spec["confidence"]), float(spec["alpha"])
    rows = []
    for benchmark in benchmarks:
        summaries = study.summaries[study.summaries["benchmark"] == benchmark]
        records = study.records[study.records["benchmark"] == benchmark]
        for metric in metrics_for(study.summaries, benchmark, spec["metrics"]):
            field = record_field(records, metric)
            base_mean = summaries.loc[summaries["variant"] == baseline, f"m:{metric}"].mean()
            base_videos = per_video(records[records["variant"] == baseline], field) if field else None
            for variant in variants:
                seeds = summaries.loc[summaries["variant"] == variant, f"m:{metric}"].dropna()
                if seeds.empty:
                    continue
                row = {"variant": variant, "benchmark": benchmark, "metric": metric, "n_seeds": len(seeds),
                       "mean": seeds.mean(), "std": seeds.std(ddof=1) if len(seeds) > 1 else float("nan"),
                       "delta": seeds.mean() - base_mean, "baseline": variant == baseline}
                if field:
                    videos = per_video(records[records["variant"] == variant], field)
                    result = compare(videos, None if variant == baseline else base_videos, confidence)
                    row.update(record_field=field, n_videos=result.n_videos, video_mean=result.mean,
                               ci_low=result.ci[0], ci_high=result.ci[1], delta_ci_low=result.delta_ci[0],
                               delta_ci_high=result.delta_ci[1], p_value=result.p_value,
                               significant=bool(result.p_value < alpha))
                rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise ConfigError("none of the report's metrics is in the study's summaries",
                          where="report spec (metrics)", hint=f"metrics asked: {spec['metrics']}")
    for column in ("n_videos", "video_mean", "ci_low", "ci_high", "delta_ci_low", "delta_ci_high", "p_value"):
        frame[column] = frame.get(column, np.nan)
    frame["significant"] = frame.get("significant", False)
    frame["significant"] = frame["significant"].fillna(False).astype(bool)
    best = frame.groupby(["benchmark", "metric"])["mean"].transform(
        lambda s: s.round(2 + int(spec["decimals"])) == s.round(2 + int(spec["decimals"])).max())
    frame["best"] = best.astype(bool)
    return frame


def cost_frame(study: Study) -> pd.DataFrame | None:
    """Per-variant params, FLOPs and latency: from cell summaries' ``cost``, else ``cost.jsonl``.

    Several measurements of a variant (cells, or cost lines for other frame counts) are averaged for
    summaries; for ``cost.jsonl`` the last line per variant counts (the latest measurement).
    """
    columns = [c for c in ("cost:params", "cost:flops", "cost:latency_ms") if c in study.summaries.columns]
    if columns:
        frame = study.summaries.groupby("variant")[columns].mean()
        frame.columns = [c.split(":", 1)[1] for c in columns]
        return frame
    if study.cost is not None and "variant" in study.cost.columns:
        keep = [c for c in ("params", "flops", "latency_ms") if c in study.cost.columns]
        return study.cost.groupby("variant")[keep].last() if keep else None
    return None


COST_COLUMNS = {"params": ("Params (M)", 1e-6, 2), "flops": ("GFLOPs", 1e-9, 2), "latency_ms": ("Latency (ms)", 1.0, 1)}


def _value_text(row: pd.Series, decimals: int) -> str:
    text = pct(row["mean"], decimals)
    return text if is_missing(row["std"]) else f"{text} ± {pct(row['std'], decimals)}"


def ablation_table(study: Study, stats: pd.DataFrame, spec: dict[str, Any]) -> Table:
    """Rows = variants; per benchmark × metric: value (bold best), 95% CI, Δ (with †)."""
    decimals, shown = int(spec["decimals"]), spec["columns"]
    variants = list(dict.fromkeys(stats["variant"]))
    pairs = list(dict.fromkeys(zip(stats["benchmark"], stats["metric"])))
    cost = cost_frame(study) if spec.get("cost") else None
    columns = [Column("Variant", numeric=False)]
    for benchmark, metric in pairs:
        columns += [Column(metric, benchmark)] if "value" in shown else []
        columns += [Column(f"{metric} 95% CI", benchmark)] if "ci" in shown else []
        columns += [Column(f"Δ {metric}", benchmark)] if "delta" in shown else []
    if cost is not None:
        columns += [Column(COST_COLUMNS[c][0], "cost") for c in cost.columns]
    indexed = stats.set_index(["variant", "benchmark", "metric"])
    rows = []
    for variant in variants:
        label = f"{variant} (baseline)" if bool(stats.loc[stats["variant"] == variant, "baseline"].any()) else variant
        row = [Cell(label, title=_describe(study, variant))]
        for benchmark, metric in pairs:
            if (variant, benchmark, metric) not in indexed.index:
                row += [text_cell("–")] * sum(k in shown for k in ("value", "ci", "delta"))
                continue
            s = indexed.loc[(variant, benchmark, metric)]
            if "value" in shown:
                row.append(Cell(_value_text(s, decimals), s["mean"], bold=bool(s["best"]),
                                title=f"mean over {int(s['n_seeds'])} seed(s)"))
            if "ci" in shown:
                ci = "–" if is_missing(s["ci_low"]) else f"[{pct(s['ci_low'], decimals)}, {pct(s['ci_high'], decimals)}]"
                row.append(Cell(ci, s["ci_low"], title=f"{int(s['n_videos']) if not is_missing(s['n_videos']) else 0} videos"))
            if "delta" in shown:
                if bool(s["baseline"]):
                    row.append(Cell("–", 0.0, title="baseline"))
                else:
                    p = s["p_value"]
                    title = "no per-sample values" if is_missing(p) else (
                        f"Wilcoxon p = {p:.3g}; Δ 95% CI [{signed_pct(s['delta_ci_low'], decimals)}, "
                        f"{signed_pct(s['delta_ci_high'], decimals)}]")
                    row.append(Cell(signed_pct(s["delta"], decimals), s["delta"],
                                    mark="†" if s["significant"] else "", title=title))
        if cost is not None:
            for name in cost.columns:
                value = cost.loc[variant, name] if variant in cost.index else float("nan")
                _, scale, places = COST_COLUMNS[name]
                row.append(Cell("–" if is_missing(value) else f"{value * scale:.{places}f}", value))
        rows.append(row)
    seeds = int(stats["n_seeds"].max())
    videos = stats["n_videos"].dropna()
    notes = [f"Values ×100, mean ± std over {seeds} seed(s);" if seeds > 1 else "Values ×100 (one seed);",
             f"Δ vs the baseline; {int(100 * float(spec['confidence']))}% CI: bootstrap over "
             f"{int(videos.max()) if len(videos) else 0} videos of per-video scores;",
             f"† paired Wilcoxon signed-rank test vs the baseline, p < {spec['alpha']}; bold: best per column."]
    data = stats.copy()
    if cost is not None:
        data = data.merge(cost.add_prefix("cost_"), left_on="variant", right_index=True, how="left")
    return Table(name=f"{slug(study.name)}_ablation", title=f"{study.title}: ablation", columns=columns,
                 rows=rows, data=data, notes=notes)


def reference_table(study: Study, stats: pd.DataFrame, spec: dict[str, Any]) -> Table | None:
    """Trivial baselines (empty mask, whole frame, …) on the table's benchmark × metric columns.

    They put the variants' numbers in context ("far above an empty mask"); they are not models, so they
    get no seeds, CI or Δ.
    """
    references = study.references
    if references is None:
        return None
    pairs = list(dict.fromkeys(zip(stats["benchmark"], stats["metric"])))
    references = references[references["benchmark"].isin({b for b, _ in pairs})]
    if references.empty:
        return None
    decimals = int(spec["decimals"])
    columns = [Column("Trivial baseline", numeric=False)] + [Column(m, b) for b, m in pairs]
    rows, data = [], []
    for name, group in references.groupby("variant", sort=False):
        row = [text_cell(name)]
        for benchmark, metric in pairs:
            values = group.loc[group["benchmark"] == benchmark, f"m:{metric}"] if f"m:{metric}" in group else []
            value = float(values.mean()) if len(values) else float("nan")
            row.append(Cell(pct(value, decimals), value))
            data.append({"baseline": name, "benchmark": benchmark, "metric": metric, "value": value})
        rows.append(row)
    return Table(name=f"{slug(study.name)}_trivial_baselines", title=f"{study.title}: trivial baselines",
                 columns=columns, rows=rows, data=pd.DataFrame(data),
                 notes=["Values ×100; predictions that need no model, scored by the same protocol."])


def _describe(study: Study, variant: str) -> str:
    variants = study.plan.get("variants")
    if isinstance(variants, dict) and isinstance(variants.get(variant), dict):
        return str(variants[variant].get("description") or "")
    return ""


# -------------------------------------------------------------------------------------------- breakdowns
def length_bins(lengths: pd.Series, spec_bins: Any) -> pd.Series:
    """Label each video by its length bin: ``auto`` = up to 3 quantile bins; a list = bin edges."""
    if spec_bins == "auto":
        if lengths.nunique() < 2:
            return pd.Series(dtype=object)
        codes = pd.qcut(lengths, q=min(3, lengths.nunique()), labels=False, duplicates="drop")
    else:
        edges = [float(e) for e in spec_bins]
        codes = pd.cut(lengths, bins=edges, labels=False, include_lowest=True)
    labels = {}
    for code in codes.dropna().unique():
        members = lengths[codes == code]
        low, high = int(members.min()), int(members.max())
        labels[code] = f"{low} frames" if low == high else f"{low}–{high} frames"
    return codes.map(labels).dropna()


def _group_rows(records: pd.DataFrame, field: str, groups: dict[str, pd.Series], variants: list[str],
                benchmark: str, kind: str) -> pd.DataFrame:
    """Tidy rows (variant, group, n, mean, std) of ``field`` averaged inside each group, per seed."""
    rows = []
    for group, mask in groups.items():
        subset = records[mask]
        for variant in variants:
            part = subset[subset["variant"] == variant]
            if part.empty:
                continue
            by_seed = part.groupby("seed")[field].mean()
            rows.append({"variant": variant, "benchmark": benchmark, "kind": kind, "group": group, "metric": field,
                         "n_expressions": int(part.groupby("seed").size().max()),
                         "n_videos": int(part["video_id"].nunique()), "n_seeds": len(by_seed),
                         "mean": by_seed.mean(), "std": by_seed.std(ddof=1) if len(by_seed) > 1 else float("nan")})
    return pd.DataFrame(rows)


def _group_table(name: str, title: str, tidy: pd.DataFrame, variants: list[str], decimals: int,
                 note: str) -> Table:
    groups = list(dict.fromkeys(tidy["group"]))
    counts = tidy.groupby("group")["n_expressions"].max()
    columns = [Column("Variant", numeric=False)] + [Column(f"{g} (n={counts[g]})") for g in groups]
    indexed = tidy.set_index(["variant", "group"])
    best = tidy.groupby("group")["mean"].max()
    rows = []
    for variant in variants:
        row = [text_cell(variant)]
        for group in groups:
            if (variant, group) not in indexed.index:
                row.append(text_cell("–"))
                continue
            s = indexed.loc[(variant, group)]
            row.append(Cell(_value_text(s, decimals), s["mean"],
                            bold=round(s["mean"], 2 + decimals) == round(best[group], 2 + decimals)))
        rows.append(row)
    notes = ["Values ×100, mean of the per-expression values inside each group (± std over seeds);", note]
    return Table(name=name, title=title, columns=columns, rows=rows, data=tidy, notes=notes)


def _type_groups(records: pd.DataFrame) -> dict[str, pd.Series]:
    """``all`` plus one group per expression type (records carry ``type`` where the benchmark has types)."""
    if "type" not in records.columns or records["type"].isna().all():
        return {}
    kinds = sorted(set(records["type"].dropna().astype(str)))
    return {"all": pd.Series(True, index=records.index), **{k: records["type"] == k for k in kinds}}


def _tag_groups(records: pd.DataFrame, with_types: bool) -> dict[str, pd.Series]:
    """One group per tag; when the records have types, the tags that refine them (a record's own type is
    not repeated as a tag), else every tag and ``all``."""
    own = records["type"] if with_types else pd.Series(None, index=records.index)
    extra = pd.Series([tuple(t for t in ts if t != kind) for ts, kind in zip(records["tags"], own)],
                      index=records.index)
    tags = sorted({t for ts in extra for t in ts})
    groups = {} if with_types else {"all": pd.Series(True, index=records.index)}
    return {**groups, **{t: extra.map(lambda ts, t=t: t in ts) for t in tags}}


def _records_for(study: Study, stats: pd.DataFrame, benchmark: str) -> tuple[pd.DataFrame, str | None]:
    variants = list(dict.fromkeys(stats["variant"]))
    records = study.records[(study.records["benchmark"] == benchmark) & study.records["variant"].isin(variants)]
    fields = stats.loc[stats["benchmark"] == benchmark, "record_field"].dropna() \
        if "record_field" in stats.columns else pd.Series(dtype=object)
    return records, (fields.iloc[0] if len(fields) else None)


def type_breakdown(study: Study, stats: pd.DataFrame) -> pd.DataFrame:
    """Tidy rows (variant, benchmark, group, n, mean, std, reference) of the first per-sample metric by
    expression type (by tag where the records have no type), for the models and the reference predictors."""
    frames = []
    variants = list(dict.fromkeys(stats["variant"]))
    for benchmark in dict.fromkeys(stats["benchmark"]):
        records, field = _records_for(study, stats, benchmark)
        if records.empty or field is None:
            continue
        references = study.reference_records
        references = references[references["benchmark"] == benchmark] if references is not None else records.iloc[0:0]
        with_types = bool(_type_groups(records))
        for rows, names, reference in ((records, variants, False),
                                       (references, list(dict.fromkeys(references["variant"])), True)):
            if rows.empty or field not in rows.columns or not rows["tags"].map(len).any():
                continue
            groups = _type_groups(rows) if with_types else _tag_groups(rows, False)
            tidy = _group_rows(rows, field, groups, names, benchmark, "type" if with_types else "tag")
            frames.append(tidy.assign(reference=reference))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def breakdown_tables(study: Study, stats: pd.DataFrame, spec: dict[str, Any]) -> list[Table]:
    """Per benchmark: the first per-sample metric by expression type, by tag and by video-length bin.

    Where the records carry an expression ``type`` (synth), types and the tags that refine them (size
    word, direction, changes, occlusion, …) are two tables; otherwise one table of every tag.
    """
    options = spec.get("breakdown") or {}
    variants = list(dict.fromkeys(stats["variant"]))
    tables = []
    benchmarks = list(dict.fromkeys(stats["benchmark"]))
    decimals = int(spec["decimals"])
    for benchmark in benchmarks:
        records, field = _records_for(study, stats, benchmark)
        if records.empty or field is None:
            continue
        suffix = f"_{slug(benchmark)}" if len(benchmarks) > 1 else ""
        if options.get("tags", True) and records["tags"].map(len).any():
            by_type = _type_groups(records)
            if by_type:
                tidy = _group_rows(records, field, by_type, variants, benchmark, "type")
                tables.append(_group_table(f"{slug(study.name)}_by_type{suffix}",
                                           f"{study.title}: {field} by expression type ({benchmark})", tidy, variants,
                                           decimals, "n = expressions per seed; each expression has one type."))
            groups = _tag_groups(records, bool(by_type))
            if groups:
                tidy = _group_rows(records, field, groups, variants, benchmark, "tag")
                note = ("n = expressions per seed; tags refine the types (an expression with several tags counts "
                        "in each)." if by_type else "n = expressions per seed; an expression with several tags "
                        "counts in each.")
                tables.append(_group_table(f"{slug(study.name)}_by_tag{suffix}",
                                           f"{study.title}: {field} by tag ({benchmark})" if by_type else
                                           f"{study.title}: {field} by expression type ({benchmark})",
                                           tidy, variants, decimals, note))
        bins_option = options.get("length_bins", "auto")
        if bins_option:
            lengths = records.groupby("video_id")["num_frames"].first().astype(float)
            labels = length_bins(lengths, bins_option)
            if labels.nunique() >= 2:
                video_bin = records["video_id"].map(labels)
                order = sorted(labels.unique(), key=lambda text: int(text.split("–")[0].split()[0]))
                groups = {label: video_bin == label for label in order}
                tidy = _group_rows(records, field, groups, variants, benchmark, "length")
                tables.append(_group_table(f"{slug(study.name)}_by_length{suffix}",
                                           f"{study.title}: {field} by video length ({benchmark})",
                                           tidy, variants, decimals,
                                           "n = expressions per seed; bins by the video's number of frames."))
    return tables


def headline(stats: pd.DataFrame) -> tuple[str, str]:
    """(benchmark, metric) of the table's first column: what plots and the leaderboard lead with."""
    first = stats.iloc[0]
    return str(first["benchmark"]), str(first["metric"])

