"""The paper's claims, read off a stored ablation: for each claim, per expression type, the paired
difference between the variants it compares, with a 95% CI and a paired test, beside the reference
predictors that ignore what the type tests.

A claim (``reports/claims.yaml``) names the variant that has the factor (``with``), the variants
that lack it (``without``: the ablation and any control) and the expression tags where it should
show. For each (variant, tag) the unit is the video, as everywhere in the reports
(:mod:`rvosbench.core.stats`): a video's score is the mean of its expressions of that tag, then the
mean over seeds; Δ = without − with on the videos both have; the CI is the bootstrap interval of the
mean of the per-video Δ and p the Wilcoxon signed-rank test on them. Both hold for these trainings
only; ``95% CI, seeds too`` (:func:`rvosbench.core.stats.seed_video_delta_ci`) resamples the training
runs as well, and is the interval a claim about the variants is judged by. ``per seed`` gives the tag's
mean per seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from rvosbench.core.errors import ConfigError
from rvosbench.core.stats import compare, per_seed_video, per_video, seed_video_delta_ci
from rvosbench.report.store import Study

METRIC = "J&F"
REFERENCES = ("colour_word", "single_frame")  # the two that each ignore what a tracking claim is about


def load_claims(path: str | Path) -> list[dict[str, Any]]:
    """The claims of a YAML file: ``claims: [{name, statement, with, without: [...], tags: [...]}]``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read the claims: {error}", where=str(path)) from error
    claims = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(claims, list) or not claims:
        raise ConfigError("expected 'claims': a non-empty list", where=str(path),
                          hint="see reports/claims.yaml")
    for index, claim in enumerate(claims):
        missing = {"name", "with", "without", "tags"} - set(claim or {})
        if missing:
            raise ConfigError(f"claim {index} lacks {sorted(missing)}", where=f"{path} (claims.{index})")
    return claims


def reference_records(study: Study) -> pd.DataFrame:
    """Per-sample records of the reference predictors bound to the study (``variant`` = the predictor)."""
    return study.reference_records if study.reference_records is not None else pd.DataFrame()


def _with_tag(records: pd.DataFrame, tag: str) -> pd.DataFrame:
    if tag == "all" or records.empty:
        return records
    return records[records["tags"].map(lambda tags: tag in tags)]


def claim_rows(study: Study, claim: dict[str, Any], references: pd.DataFrame,
               reference_names: list[str]) -> pd.DataFrame:
    """One row per (ablated variant, tag): n videos, both means, Δ, its CI, p, per-seed means, references."""
    records = study.records
    rows = []
    for variant in claim["without"]:
        for tag in ["all", *claim["tags"]]:
            subset = _with_tag(records, tag)
            base_part = subset[subset["variant"] == claim["with"]]
            part = subset[subset["variant"] == variant]
            if base_part.empty or part.empty:
                continue
            base_videos, videos = per_video(base_part, METRIC), per_video(part, METRIC)
            result = compare(videos, base_videos)
            common = videos.index.intersection(base_videos.index)
            row = {"variant": variant, "tag": tag, "videos": len(common),
                   "expressions": int(part.groupby("seed").size().max()),
                   "base": base_videos.loc[common].mean(), "ablated": videos.loc[common].mean(),
                   "delta": (videos.loc[common] - base_videos.loc[common]).mean(),
                   "delta_low": result.delta_ci[0], "delta_high": result.delta_ci[1], "p": result.p_value,
                   "runs_ci": seed_video_delta_ci(per_seed_video(part, METRIC), per_seed_video(base_part, METRIC)),
                   "base_seeds": base_part.groupby("seed")[METRIC].mean().tolist(),
                   "ablated_seeds": part.groupby("seed")[METRIC].mean().tolist()}
            for name in reference_names:
                ref = _with_tag(references, tag)
                ref = ref[ref["variant"] == name] if not ref.empty else ref
                row[name] = ref[METRIC].mean() if not ref.empty else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def _pct(value: float) -> str:
    return "–" if pd.isna(value) else f"{100 * value:.1f}"


def _seeds(values: list[float]) -> str:
    return " / ".join(f"{100 * v:.1f}" for v in values)


def claim_markdown(study: Study, claim: dict[str, Any], references: pd.DataFrame, reference_names: list[str],
                   alpha: float = 0.05) -> str:
    table = claim_rows(study, claim, references, reference_names)
    lines = [f"### {claim['name']}", "", str(claim.get("statement", "")).strip(), ""]
    if table.empty:
        return "\n".join(lines + ["(no stored cells for these variants)", ""])
    header = ["tag", "videos", f"{claim['with']} (per seed)", "variant (per seed)", "Δ ×100 [95% CI]", "p",
              "95% CI, seeds too", *reference_names]
    for variant, group in table.groupby("variant", sort=False):
        lines += [f"`{variant}` against `{claim['with']}`:", "", "| " + " | ".join(header) + " |",
                  "|" + " --- |" * len(header)]
        for r in group.itertuples():
            significant = r.p < alpha
            delta = f"{100 * r.delta:+.1f} [{100 * r.delta_low:+.1f}, {100 * r.delta_high:+.1f}]"
            cells = [r.tag, str(r.videos), f"{_pct(r.base)} ({_seeds(r.base_seeds)})",
                     f"{_pct(r.ablated)} ({_seeds(r.ablated_seeds)})", f"**{delta}**" if significant else delta,
                     f"{r.p:.3g}", f"[{100 * r.runs_ci[0]:+.1f}, {100 * r.runs_ci[1]:+.1f}]",
                     *[_pct(getattr(r, name)) for name in reference_names]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def learning_curves(study: Study, tags: list[str]) -> str:
    """Per tag, a table of the validation score (mean over seeds) of every variant at every validated
    step: the per-type learning curves the trainings log (``val/J&F@<tag>``, ``train.val_every``)."""
    logs = study.train_logs
    column = f"val/{METRIC}"
    if logs is None or column not in logs.columns:
        return "(the trainings of this study logged no validation metric: set train.val_every)"
    logs = logs[logs[column].notna()]
    steps = sorted(int(step) for step in logs["step"].unique())
    lines = []
    for tag in ["all", *tags]:
        key = column if tag == "all" else f"{column}@{tag}"
        if key not in logs.columns:
            continue
        lines += [f"`{tag}` ({METRIC} ×100 on the validation split, mean over seeds):", "",
                  "| variant | " + " | ".join(str(step) for step in steps) + " |", "|" + " --- |" * (len(steps) + 1)]
        for variant in study.variants:
            part = logs[logs["variant"] == variant].groupby("step")[key].mean()
            lines.append(f"| `{variant}` | " + " | ".join(_pct(part.get(step, float("nan"))) for step in steps) + " |")
        lines.append("")
    return "\n".join(lines)


def claims_markdown(study: Study, claims: list[dict[str, Any]],
                    reference_names: tuple[str, ...] | list[str] = REFERENCES) -> str:
    references = reference_records(study)
    found = set(references["variant"]) if not references.empty else set()
    names = [name for name in reference_names if name in found]
    intro = (f"Study `{study.name}` ({study.path}); {METRIC} ×100 per expression tag. Δ = variant − "
             f"the variant with the factor, per video (mean over its expressions, then over seeds); 95% CI: "
             f"bootstrap over videos; p: paired Wilcoxon signed-rank over videos (bold: p < 0.05); per seed: "
             f"the mean over the tag's expressions for each seed; 95% CI, seeds too: the bootstrap interval when "
             f"the training runs are resampled as well as the videos (the seed-to-seed spread included: a claim "
             f"about a variant is a claim about its runs). The last columns are reference predictors: "
             f"{', '.join(names) or 'none stored'} (docs/benchmarks.md).")
    tags = list(dict.fromkeys(tag for claim in claims for tag in claim["tags"]))
    return "\n".join([intro, ""] + [claim_markdown(study, claim, references, names) for claim in claims]
                     + ["### Per-type learning curves", "", learning_curves(study, tags)])
