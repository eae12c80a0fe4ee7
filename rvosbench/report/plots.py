"""Plots of a study (matplotlib, Agg backend), one PNG each, written next to the tables.

Every plot gives each variant the same colour (Okabe–Ito palette, distinguishable with colour-vision
deficiencies) and shows metric values ×100 like the tables. Each function returns the files it wrote,
or an empty list when the study lacks the data (e.g. no cost measured, no training log).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rvosbench.report.ablation import slug  # noqa: E402
from rvosbench.core.stats import paired_test  # noqa: E402
from rvosbench.report.stats import per_video  # noqa: E402
from rvosbench.report.store import Study  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]  # distinct per variant, so overlapping lines stay visible
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
DPI = 130
PRED_RGB = np.array([230, 159, 0], dtype=float)  # orange fill: prediction
GT_COLOUR = "#00E5FF"  # cyan outline: ground truth


def colours(variants: list[str]) -> dict[str, str]:
    return {v: OKABE_ITO[i % len(OKABE_ITO)] for i, v in enumerate(variants)}


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def bars(study: Study, stats: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per benchmark: grouped bars (metric × variant), seed values as dots, 95% CI over videos as lines."""
    variants = list(dict.fromkeys(stats["variant"]))
    palette, paths = colours(variants), []
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
        low = 100 * np.nanmin(np.r_[group["mean"].to_numpy(), group["ci_low"].to_numpy()])
        high = 100 * np.nanmax(np.r_[group["mean"].to_numpy(), group["ci_high"].to_numpy()])
        ax.set_ylim(max(0.0, low - 0.25 * (high - low) - 2), min(100.0, high + 0.12 * (high - low) + 2))
        ax.set_xticks(np.arange(len(metrics)), metrics)
        ax.set_ylabel("score (×100)")
        ax.set_title(f"{study.title} — {benchmark}\nbars: mean over seeds (dots); lines: 95% CI over videos",
                     fontsize=10)
        ax.legend(fontsize=8, frameon=False, ncols=min(len(variants), 4), loc="upper center",
                  bbox_to_anchor=(0.5, -0.1))
        ax.grid(axis="y", alpha=0.3)
        paths.append(_save(fig, out_dir / f"{slug(study.name)}_bars_{slug(benchmark)}.png"))
    return paths


def paired(study: Study, stats: pd.DataFrame, baseline: str, out_dir: Path) -> list[Path]:
    """Per benchmark: per-video baseline score (x) vs variant score (y), one panel per variant."""
    paths = []
    scored = stats.dropna(subset=["ci_low"]) if "ci_low" in stats else stats.iloc[0:0]
    palette = colours(list(dict.fromkeys(stats["variant"])))
    for benchmark, group in scored.groupby("benchmark", sort=False):
        metric, field = group.iloc[0]["metric"], group.iloc[0]["record_field"]
        others = [v for v in dict.fromkeys(group["variant"]) if v != baseline]
        records = study.records[study.records["benchmark"] == benchmark]
        base = per_video(records[records["variant"] == baseline], field)
        if not others or base.empty:
            continue
        fig, axes = plt.subplots(1, len(others), figsize=(3.9 * len(others), 4.0), squeeze=False)
        for ax, variant in zip(axes[0], others):
            scores = per_video(records[records["variant"] == variant], field)
            common = scores.index.intersection(base.index)
            x, y = 100 * base.loc[common].to_numpy(), 100 * scores.loc[common].to_numpy()
            lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
            pad = 0.05 * (hi - lo) + 0.5
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linestyle="--", linewidth=1)
            ax.scatter(x, y, s=26, color=palette[variant], edgecolor="black", linewidth=0.5)
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(lo - pad, hi + pad)
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
        paths.append(_save(fig, out_dir / f"{slug(study.name)}_paired_{slug(benchmark)}.png"))
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
    palette = colours(list(rows.index))
    fig, axes = plt.subplots(1, len(axes_wanted), figsize=(4.6 * len(axes_wanted), 4.0), squeeze=False)
    for ax, (column, label, scale) in zip(axes[0], axes_wanted):
        x = cost.loc[variants, column].to_numpy(dtype=float) * scale
        y = 100 * rows.loc[variants, "mean"].to_numpy(dtype=float)
        front = pareto_front(x, y)
        ax.step(x[front], y[front], where="post", color="grey", linestyle="--", linewidth=1.2, label="Pareto front")
        for xi, yi, variant in zip(x, y, variants):
            ax.scatter([xi], [yi], s=60, color=palette[variant], edgecolor="black", linewidth=0.6, zorder=3,
                       label=variant)
        ax.set_xlabel(label)
        ax.set_ylabel(f"{metric} on {benchmark} (×100)")
        ax.margins(0.15)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.suptitle(f"{study.title}: accuracy vs cost (up and left is better)", fontsize=10)
    fig.tight_layout()
    return [_save(fig, out_dir / f"{slug(study.name)}_pareto.png")]


def curves(study: Study, out_dir: Path) -> list[Path]:
    """Training loss and the validation metric vs step; one colour per variant, one line per seed."""
    logs = study.train_logs
    if logs is None or "step" not in logs.columns:
        return []
    val_columns = [c for c in logs.columns if c.startswith("val/")]
    val = "val/J&F" if "val/J&F" in val_columns else (val_columns[0] if val_columns else None)
    panels = [c for c in ("loss", val) if c and c in logs.columns]
    if not panels:
        return []
    variants = [v for v in study.variants if v in set(logs["variant"])] + \
        [v for v in dict.fromkeys(logs["variant"]) if v not in study.variants]
    palette = colours(variants)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.8), squeeze=False)
    for ax, column in zip(axes[0], panels):
        for variant in variants:
            for k, (seed, run) in enumerate(logs[logs["variant"] == variant].groupby("seed")):
                points = run[["step", column]].dropna()
                scale = 100 if column.startswith("val/") else 1
                ax.plot(points["step"], scale * points[column], color=palette[variant], linewidth=1.4,
                        alpha=0.9 if k == 0 else 0.5, linestyle="-" if k == 0 else "--",
                        marker="o" if column.startswith("val/") else None, markersize=3,
                        label=variant if k == 0 else None)
        ax.set_xlabel("training step")
        ax.set_ylabel(f"{column[4:]} (×100, validation)" if column.startswith("val/") else column)
        losses = logs["loss"].dropna() if column == "loss" else None
        if losses is not None and (losses > 0).all() and losses.max() > 10 * losses.min():
            ax.set_yscale("log")  # only when the loss spans more than a decade
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, frameon=False, title="solid: first seed", title_fontsize=8)
    fig.suptitle(f"{study.title}: training curves", fontsize=10)
    fig.tight_layout()
    return [_save(fig, out_dir / f"{slug(study.name)}_training.png")]


def scaling(study: Study, out_dir: Path) -> list[Path]:
    """J&F, latency and peak memory vs the number of frames (the coupled vs decoupled attention sweep)."""
    frame = study.scaling
    if frame is None or not {"variant", "num_frames"} <= set(frame.columns):
        return []
    panels = [c for c in ("J&F", "latency_ms", "peak_mem_mb") if c in frame.columns and frame[c].notna().any()]
    labels = {"J&F": "J&F (×100)", "latency_ms": "latency per clip (ms)", "peak_mem_mb": "peak memory (MB)"}
    variants = list(dict.fromkeys(frame["variant"]))
    palette = colours([v for v in study.variants if v in variants] + [v for v in variants if v not in study.variants])
    mean = frame.groupby(["variant", "num_frames"])[panels].mean().reset_index()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.8), squeeze=False)
    for ax, column in zip(axes[0], panels):
        for variant in variants:
            rows = mean[mean["variant"] == variant].sort_values("num_frames")
            scale = 100 if column == "J&F" else 1
            ax.plot(rows["num_frames"], scale * rows[column], marker=MARKERS[variants.index(variant) % len(MARKERS)],
                    markersize=7 - 1.5 * (variants.index(variant) % 3), color=palette[variant], label=variant)
        ax.set_xscale("log", base=2)
        ticks = sorted(mean["num_frames"].unique())
        ax.set_xticks(ticks, [str(int(t)) for t in ticks])
        ax.set_xlabel("frames per clip (T)")
        ax.set_ylabel(labels[column])
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, frameon=False)
    fig.suptitle(f"{study.title}: accuracy and cost vs number of frames", fontsize=10)
    fig.tight_layout()
    return [_save(fig, out_dir / f"{slug(study.name)}_scaling.png")]


def overlay(frame: np.ndarray, pred: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """The frame with the predicted mask filled in orange (the GT outline is drawn on top)."""
    image = frame.astype(float).copy()
    image[pred] = (1 - alpha) * image[pred] + alpha * PRED_RGB
    return image.astype(np.uint8)


def _strip_uids(study: Study, variants: list[str], baseline: str, benchmark: str, metric: str | None,
                limit: int) -> list[tuple[str, str, dict[str, Path]]]:
    """``(uid, why, {variant: npz})`` for uids every variant has a strip of (first seed), worst first.

    Half of ``limit`` goes to the baseline's worst samples, the rest to the others in stored order
    (the engine keeps the first few and the worst few of each cell).
    """
    cells = study.summaries[study.summaries["benchmark"] == benchmark].sort_values("seed")
    files: dict[str, dict[str, Path]] = {}
    for variant in variants:
        rows = cells[cells["variant"] == variant]
        if rows.empty:
            return []
        strips = study.cell_dir(rows.iloc[0]["cell"]) / "strips"
        for npz in sorted(strips.glob("*.npz")) if strips.is_dir() else []:
            files.setdefault(npz.stem.replace("__", "/", 1), {})[variant] = npz
    shared = [uid for uid, found in files.items() if len(found) == len(variants)]
    if not shared:
        return []
    scores = _sample_scores(study, benchmark, baseline, metric)
    worst = sorted(shared, key=lambda uid: scores.get(uid, np.inf))[: max(1, min(limit, len(shared)) // 2)]
    rest = [uid for uid in shared if uid not in worst][: limit - len(worst)]
    return [(uid, "worst", files[uid]) for uid in worst] + [(uid, "chosen", files[uid]) for uid in rest]


def _sample_scores(study: Study, benchmark: str, variant: str, metric: str | None) -> dict[str, float]:
    """uid -> the variant's first-seed per-sample value (empty when there is no such field)."""
    records = study.records
    if metric is None or metric not in records.columns:
        return {}
    rows = records[(records["benchmark"] == benchmark) & (records["variant"] == variant)]
    rows = rows[rows["seed"] == rows["seed"].min()]
    uids = rows["video_id"].astype(str) + "/" + rows["exp_id"].astype(str)
    return dict(zip(uids, rows[metric].astype(float)))


def strips(study: Study, stats: pd.DataFrame, baseline: str, out_dir: Path, max_samples: int = 4,
           max_frames: int = 6) -> list[Path]:
    """Qualitative strips: per sample one figure, one row per variant, frames left to right.

    Orange fill = prediction, cyan outline = ground truth; each row is labelled with the variant's
    per-sample score.
    """
    variants = list(dict.fromkeys(stats["variant"]))
    paths = []
    for benchmark in dict.fromkeys(stats["benchmark"]):
        fields = stats.loc[stats["benchmark"] == benchmark, "record_field"].dropna() \
            if "record_field" in stats.columns else pd.Series(dtype=object)
        metric = fields.iloc[0] if len(fields) else None
        for uid, why, found in _strip_uids(study, variants, baseline, benchmark, metric, max_samples):
            loaded = {v: np.load(found[v]) for v in variants}
            first = loaded[variants[0]]
            t = first["frames"].shape[0]
            picks = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
            h, w = first["frames"].shape[1:3]
            cell_w = 2.2
            fig, axes = plt.subplots(len(variants), len(picks), squeeze=False,
                                     figsize=(cell_w * len(picks) + 0.4, (cell_w * h / w + 0.25) * len(variants) + 0.6))
            for r, variant in enumerate(variants):
                data = loaded[variant]
                score = _sample_scores(study, benchmark, variant, metric).get(uid)
                for c, index in enumerate(picks):
                    ax = axes[r][c]
                    ax.imshow(overlay(data["frames"][index], data["pred"][index].astype(bool)))
                    if data["gt"][index].any():
                        ax.contour(data["gt"][index].astype(float), levels=[0.5], colors=[GT_COLOUR], linewidths=1.3)
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if r == 0:  # the engine stores which video frames the strip holds (frame_indices)
                        shown = first["frame_indices"][index] if "frame_indices" in first.files else index
                        ax.set_title(f"frame {int(shown)}", fontsize=8)
                    if c == 0:
                        label = variant if score is None else f"{variant}\n{metric} {100 * score:.1f}"
                        ax.set_ylabel(label, fontsize=8)
            text = str(first["text"]) if "text" in first.files else ""
            fig.suptitle(f"{uid} ({why}): \u201c{text}\u201d\norange = prediction, cyan outline = ground truth",
                         fontsize=9)
            fig.tight_layout()
            paths.append(_save(fig, out_dir / f"{slug(study.name)}_strip_{why}_{slug(uid)}.png"))
    return paths
