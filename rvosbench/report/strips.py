"""Qualitative strips of a study: per sample one figure, one row per variant, frames left to right.

The engine keeps the first few and the worst few samples of each cell (``cells/<key>/strips/*.npz``, the
same uids across variants); the prediction is filled in orange and the ground truth outlined in cyan.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rvosbench.report.ablation import slug
from rvosbench.report.palette import plt, save
from rvosbench.report.store import Study

PRED_RGB = np.array([230, 159, 0], dtype=float)  # orange fill: prediction
GT_COLOUR = "#00E5FF"  # cyan outline: ground truth


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
            paths.append(save(fig, out_dir / f"{slug(study.name)}_strip_{why}_{slug(uid)}.png"))
    return paths
