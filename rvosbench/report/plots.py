"""Plots of a study (matplotlib, Agg backend), one PNG each, written next to the tables.

Honest axes: every score and cost axis starts at zero (scores run to 100), so a 0.6-point gap looks
like one; a loss spanning more than a decade is drawn on a log axis, which says so. Every plot takes a
model's colour from one :class:`~rvosbench.report.palette.Palette` (the same colour for a variant in the
bars, the scatter, the curves, the Pareto plot and the type breakdown), and reference predictors (empty
mask, colour words, single frame, …) in black and grey line styles. Values are ×100 like the tables.
Each function returns the files it wrote, or an empty list when the study lacks the data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rvosbench.core.stats import align, paired_test, per_video
from rvosbench.report.ablation import slug
from rvosbench.report.palette import Palette, plt, reference_style, save
from rvosbench.report.store import Study


def study_palette(study: Study) -> Palette:
    """The study's colours: its variants in plan order (the same in every plot of the report)."""
    return Palette(study.variants)


def _score_axis(ax: plt.Axes, values: np.ndarray, axis: str = "y") -> None:
    """A score axis (×100) from 0 to a little above the largest value (at most 100)."""
    top = float(np.nanmax(values)) if np.size(values) and np.isfinite(np.nanmax(values)) else 100.0
    limits = (0.0, min(100.0, max(5.0, top * 1.1 + 1)))
    (ax.set_ylim if axis == "y" else ax.set_xlim)(*limits)


def bars(study: Study, stats: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per benchmark: grouped bars (metric × variant), seed values as dots, 95% CI over videos as lines."""
    variants = list(dict.fromkeys(stats["variant"]))
    palette, paths = study_palette(study), []
    for benchmark, group in stats.groupby("benchmark", sort=False):
        metrics = list(dict.fromkeys(group["metric"]))
        width = 0.8 / len(variants)
        fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(metrics) * max(1.0, len(variants) / 2.5), 4.2))
        for i, variant in enumerate(variants):
            rows = group[group["variant"] == variant].set_index("metric").reindex(metrics)
            x = np.arange(len(metrics)) - 0.4 + width * (i + 0.5)
            ax.bar(x, 100 * rows["mean"], width * 0.92, color=palette[variant], label=variant, alpha=0.85)
            ax.vlines(x, 100 * rows["ci_low"], 100 * rows["ci_high"], color="black", linewidth=1.6)
            seeds = study.summaries[(study.summaries["benchmark"] == benchmark) & (study.summaries["variant"] == variant)]
            for j, metric in enumerate(metrics):
                values = 100 * seeds.get(f"m:{metric}", pd.Series(dtype=float)).dropna()
                ax.scatter(np.full(len(values), x[j]), values, s=12, color="white", edgecolor="black",
                           linewidth=0.7, zorder=3)
        _score_axis(ax, 100 * np.r_[group["mean"].to_numpy(), group["ci_high"].to_numpy()])
        ax.set_xticks(np.arange(len(metrics)), metrics)
        ax.set_ylabel("score (×100)")
        ax.set_title(f"{study.title} — {benchmark}\nbars: mean over seeds (dots); lines: 95% CI over videos",
                     fontsize=10)
        ax.legend(fontsize=8, frameon=False, ncols=min(len(variants), 4), loc="upper center",
                  bbox_to_anchor=(0.5, -0.1))
        ax.grid(axis="y", alpha=0.3)
        paths.append(save(fig, out_dir / f"{slug(study.name)}_bars_{slug(benchmark)}.png"))
    return paths


def paired(study: Study, stats: pd.DataFrame, baseline: str, out_dir: Path) -> list[Path]:
    """Per benchmark: per-video baseline score (x) vs variant score (y), one panel per variant."""
    paths = []
    scored = stats.dropna(subset=["ci_low"]) if "ci_low" in stats else stats.iloc[0:0]
    palette = study_palette(study)
    for benchmark, group in scored.groupby("benchmark", sort=False):
        metric, field = group.iloc[0]["metric"], group.iloc[0]["record_field"]
        others = [v for v in dict.fromkeys(group["variant"]) if v != baseline]
        records = study.records[study.records["benchmark"] == benchmark]
        base = per_video(records[records["variant"] == baseline], field)
        if not others or base.empty:
            continue
        fig, axes = plt.subplots(1, len(others), figsize=(3.9 * len(others), 4.0), squeeze=False)
        for ax, variant in zip(axes[0], others):
            y, x, _ = align(per_video(records[records["variant"] == variant], field), base)
            x, y = 100 * x, 100 * y
            ax.plot([0, 100], [0, 100], color="grey", linestyle="--", linewidth=1)
            ax.scatter(x, y, s=26, color=palette[variant], edgecolor="black", linewidth=0.5)
            _score_axis(ax, np.r_[x, y], "x")
            _score_axis(ax, np.r_[x, y], "y")
            ax.set_aspect("equal")
            p = paired_test(y, x)
            ax.set_title(f"{variant}: {int((y > x).sum())} up / {int((y < x).sum())} down\n"
                         f"mean Δ {np.mean(y - x):+.1f}, Wilcoxon p = {p:.3g}", fontsize=9)
            ax.set_xlabel(f"{baseline} (baseline) per-video {metric}")
            ax.set_ylabel(f"{variant} per-video {metric}")
            ax.grid(alpha=0.3)
        fig.suptitle(f"{study.title} — {benchmark}\nper-video scores (×100); points above the line favour the variant",
                     fontsize=10)
        fig.tight_layout()
        paths.append(save(fig, out_dir / f"{slug(study.name)}_paired_{slug(benchmark)}.png"))
    return paths


def pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats on both (lower cost and higher score), by cost."""
    order = np.lexsort((-score, cost))
    front, best = [], -np.inf
    for i in order:
        if score[i] > best:
            front.append(i)
            best = score[i]
    return np.array(front, dtype=int)


def pareto(study: Study, stats: pd.DataFrame, cost: pd.DataFrame | None, out_dir: Path) -> list[Path]:
    """Headline score vs GFLOPs and vs latency, with the Pareto front (best score for its cost)."""
    if cost is None:
        return []
    axes_wanted = [(c, label, scale) for c, label, scale in
                   (("flops", "GFLOPs per clip", 1e-9), ("latency_ms", "latency per clip (ms)", 1.0))
                   if c in cost.columns and cost[c].notna().any()]
    if not axes_wanted:
        return []
    benchmark, metric = stats.iloc[0]["benchmark"], stats.iloc[0]["metric"]
    rows = stats[(stats["benchmark"] == benchmark) & (stats["metric"] == metric)].set_index("variant")
    variants = [v for v in rows.index if v in cost.index]
    palette = study_palette(study)
    fig, axes = plt.subplots(1, len(axes_wanted), figsize=(4.6 * len(axes_wanted), 4.0), squeeze=False)
    for ax, (column, label, scale) in zip(axes[0], axes_wanted):
        x = cost.loc[variants, column].to_numpy(dtype=float) * scale
        y = 100 * rows.loc[variants, "mean"].to_numpy(dtype=float)
        front = pareto_front(x, y)
        ax.step(x[front], y[front], where="post", color="grey", linestyle="--", linewidth=1.2, label="Pareto front")
        for xi, yi, variant in zip(x, y, variants):
            ax.scatter([xi], [yi], s=60, color=palette[variant], marker=palette.marker(variant), edgecolor="black",
                       linewidth=0.6, zorder=3, label=variant)
        ax.set_xlabel(label)
        ax.set_ylabel(f"{metric} on {benchmark} (×100)")
        ax.set_xlim(0, float(np.nanmax(x)) * 1.15 if np.nanmax(x) > 0 else 1)
        _score_axis(ax, y)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, frameon=False, loc="lower right")
    fig.suptitle(f"{study.title}: accuracy vs cost (up and left is better; both axes from 0)", fontsize=10)
    fig.tight_layout()
    return [save(fig, out_dir / f"{slug(study.name)}_pareto.png")]


def _final_scores(study: Study) -> pd.DataFrame:
    """Per (variant, seed): the first benchmark's headline metric after training (the stored cell)."""
    metric = next((c for c in ("m:J&F", "m:mIoU", "m:mAP") if c in study.summaries.columns), None)
    if metric is None:
        return pd.DataFrame(columns=["variant", "seed", "value"])
    first = study.summaries[study.summaries["benchmark"] == study.benchmarks[0]]
    return first[["variant", "seed", metric]].rename(columns={metric: "value"}).dropna()


def curves(study: Study, out_dir: Path) -> list[Path]:
    """Training loss and the validation metric vs step; one colour per variant, one line per seed.

    The validation panel is always drawn: the ``val/<metric>`` lines when the study validates during
    training (``train.val_every`` and ``train.val_benchmark``), and in every case each cell's score after
    training as a star at the last step, so the loss can be read against the number that counts.
    """
    logs = study.train_logs
    if logs is None or "step" not in logs.columns or "loss" not in logs.columns:
        return []
    val_columns = [c for c in logs.columns if c.startswith("val/")]
    val = "val/J&F" if "val/J&F" in val_columns else (val_columns[0] if val_columns else None)
    palette = study_palette(study)
    variants = [v for v in study.variants if v in set(logs["variant"])]
    final = _final_scores(study)
    fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    for variant in variants:
        for k, (seed, run) in enumerate(logs[logs["variant"] == variant].groupby("seed")):
            style = dict(color=palette[variant], linewidth=1.4, alpha=0.9 if k == 0 else 0.5,
                         linestyle="-" if k == 0 else "--", label=variant if k == 0 else None)
            points = run[["step", "loss"]].dropna()
            loss_ax.plot(points["step"], points["loss"], **style)
            if val is not None:
                points = run[["step", val]].dropna()
                val_ax.plot(points["step"], 100 * points[val], marker="o", markersize=3, **style)
            score = final[(final["variant"] == variant) & (final["seed"] == seed)]["value"]
            if len(score):
                val_ax.scatter([run["step"].max()], [100 * score.iloc[0]], marker="*", s=110, color=palette[variant],
                               edgecolor="black", linewidth=0.6, zorder=3)
    losses = logs["loss"].dropna()
    if (losses > 0).all() and losses.max() > 10 * losses.min():
        loss_ax.set_yscale("log")  # only when the loss spans more than a decade
        loss_ax.set_ylabel("loss (log scale)")
    else:
        loss_ax.set_ylim(0, float(losses.max()) * 1.05)
        loss_ax.set_ylabel("loss")
    what = val[4:] if val else "J&F"
    val_ax.set_ylim(0, 100)
    val_ax.set_ylabel(f"{what} (×100)")
    val_ax.set_title(("lines: validation during training; " if val else
                      "no validation during training (set train.val_every, train.val_benchmark); ")
                     + f"★: {study.benchmarks[0]} after training", fontsize=8)
    for ax in (loss_ax, val_ax):
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=8, frameon=False, title="solid: first seed", title_fontsize=8)
    fig.suptitle(f"{study.title}: training curves", fontsize=10)
    fig.tight_layout()
    return [save(fig, out_dir / f"{slug(study.name)}_training.png")]


def scaling(study: Study, out_dir: Path) -> list[Path]:
    """J&F, latency and peak memory vs the number of frames (the coupled vs decoupled attention sweep)."""
    frame = study.scaling
    if frame is None or not {"variant", "num_frames"} <= set(frame.columns):
        return []
    panels = [c for c in ("J&F", "latency_ms", "peak_mem_mb") if c in frame.columns and frame[c].notna().any()]
    labels = {"J&F": "J&F (×100)", "latency_ms": "latency per clip (ms)", "peak_mem_mb": "peak memory (MB)"}
    variants = [v for v in study.variants if v in set(frame["variant"])]
    palette = study_palette(study)
    mean = frame.groupby(["variant", "num_frames"])[panels].mean().reset_index()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.8), squeeze=False)
    for ax, column in zip(axes[0], panels):
        for variant in variants:
            rows = mean[mean["variant"] == variant].sort_values("num_frames")
            scale = 100 if column == "J&F" else 1
            ax.plot(rows["num_frames"], scale * rows[column], marker=palette.marker(variant),
                    markersize=7 - 1.5 * (variants.index(variant) % 3), color=palette[variant], label=variant)
        ax.set_xscale("log", base=2)
        ticks = sorted(mean["num_frames"].unique())
        ax.set_xticks(ticks, [str(int(t)) for t in ticks])
        ax.set_xlabel("frames per clip (T)")
        ax.set_ylabel(labels[column])
        if column == "J&F":
            _score_axis(ax, 100 * mean[column].to_numpy(dtype=float))
        else:
            ax.set_ylim(0, float(mean[column].max()) * 1.1)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.suptitle(f"{study.title}: accuracy and cost vs number of frames", fontsize=10)
    fig.tight_layout()
    return [save(fig, out_dir / f"{slug(study.name)}_scaling.png")]


def types(study: Study, breakdown: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per benchmark: the per-expression score by expression type, one bar per variant (mean over seeds,
    seed spread as a line), and each reference predictor as a horizontal mark across the type's bars.

    ``breakdown`` is the tidy frame of :func:`rvosbench.report.ablation.type_breakdown` (models and
    reference predictors, ``kind`` = ``type``). A type where a reference predictor scores close to the
    models does not test what its name says.
    """
    if breakdown is None or breakdown.empty:
        return []
    palette, paths = study_palette(study), []
    for benchmark, part in breakdown.groupby("benchmark", sort=False):
        groups = [g for g in dict.fromkeys(part["group"]) if g != "all"]
        models = [v for v in study.variants if v in set(part.loc[~part["reference"], "variant"])]
        references = list(dict.fromkeys(part.loc[part["reference"], "variant"]))
        if not groups or not models:
            continue
        width = 0.8 / len(models)
        fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(groups) * max(1.0, len(models) / 2.5), 4.4))
        indexed = part.set_index(["variant", "group"])
        for i, variant in enumerate(models):
            rows = indexed.loc[variant].reindex(groups)
            x = np.arange(len(groups)) - 0.4 + width * (i + 0.5)
            ax.bar(x, 100 * rows["mean"], width * 0.92, color=palette[variant], label=variant, alpha=0.9)
            spread = rows["std"].fillna(0).to_numpy()
            ax.vlines(x, 100 * (rows["mean"] - spread), 100 * (rows["mean"] + spread), color="black", linewidth=1.2)
        for k, name in enumerate(references):
            colour, linestyle = reference_style(k)
            rows = indexed.loc[name].reindex(groups)
            for j, value in enumerate(rows["mean"]):
                if np.isfinite(value):
                    ax.hlines(100 * value, j - 0.45, j + 0.45, colors=colour, linestyles=linestyle, linewidth=2.0,
                              label=f"{name} (reference)" if j == 0 else None, zorder=4)
        counts = part.groupby("group")["n_expressions"].max()
        ax.set_xticks(np.arange(len(groups)), [f"{g}\n(n={counts[g]})" for g in groups], fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_ylabel(f"{part['metric'].iloc[0]} (×100)")
        ax.set_title(f"{study.title} — {benchmark}: by expression type\nbars: models (mean over seeds, line: ±std); "
                     "marks: reference predictors", fontsize=10)
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(axis="y", alpha=0.3)
        paths.append(save(fig, out_dir / f"{slug(study.name)}_types_{slug(benchmark)}.png"))
    return paths
