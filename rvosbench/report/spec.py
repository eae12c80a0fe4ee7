"""Report specs (``reports/*.yaml``): which runs, benchmarks, metrics, columns, plots and formats.

A spec is a small YAML mapping merged over the built-in defaults below (the only place defaults live;
docs/reports.md lists every key). A study's own ``report:`` section (in its ablation YAML, stored in
``plan.yaml``) is merged over the spec file, and an explicit ``spec`` argument over that, so a study can
say e.g. ``report: {plots: [bars, scaling]}`` without a separate file. Unknown keys in a spec file are a
:class:`~rvosbench.core.errors.ConfigError` with ``file:line``.
"""
from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rvosbench.core.config import load_config
from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.core.registry import deep_merge

# Headline metrics in display order; a benchmark shows those its summaries have (rivals.md §2.4).
HEADLINE_METRICS = ["J&F", "J", "F", "mAP", "oIoU", "mIoU", "P@0.5"]
PLOTS = ["bars", "paired", "types", "pareto", "curves", "scaling", "strips"]

ABLATION_DEFAULTS: dict[str, Any] = {
    "metrics": HEADLINE_METRICS,
    "benchmarks": None,        # None: every benchmark of the study; else names or fnmatch patterns
    "variants": None,          # None: the plan's order; else the rows to show, in order
    "baseline": None,          # None: the study's baseline
    "columns": ["value", "ci", "delta"],
    "confidence": 0.95,
    "alpha": 0.05,
    "decimals": 1,
    "breakdown": {"tags": True, "length_bins": "auto"},
    "cost": True,
    "plots": PLOTS,
    "strips": {"max_samples": 4, "max_frames": 6},
    "formats": ["md", "tex", "csv", "html"],
}

LEADERBOARD_DEFAULTS: dict[str, Any] = {
    "title": "rvosbench leaderboard",
    "metrics": HEADLINE_METRICS,
    "benchmarks": None,   # None: every benchmark in the store; else names or fnmatch patterns
    "studies": None,      # fnmatch patterns on study names
    "models": None,       # fnmatch patterns on model (card) names
    "external": True,     # rows for externally scored predictions (rvosbench eval --name)
    "published": True,    # paper numbers from the model cards next to the reproduced ones
    "unreproduced": True, # also list published numbers of stored models on benchmarks not run yet
    "decimals": 1,
    "formats": ["md", "tex", "csv", "html"],
}

COLUMN_CHOICES = {"value", "ci", "delta"}


def _check_keys(data: Mapping[str, Any], defaults: Mapping[str, Any], where) -> None:
    for key in data:
        if key not in defaults:
            raise ConfigError(f"unknown report spec key '{key}'", where=where(key),
                              hint=did_you_mean(str(key), defaults))


def _validate(spec: dict[str, Any], where) -> dict[str, Any]:
    for key in ("metrics", "formats"):
        if not isinstance(spec.get(key), list) or not spec[key]:
            raise ConfigError(f"'{key}' must be a non-empty list", where=where(key))
    if "columns" in spec:
        bad = [c for c in spec["columns"] if c not in COLUMN_CHOICES]
        if bad or not spec["columns"]:
            raise ConfigError(f"'columns' must list some of {sorted(COLUMN_CHOICES)}, got {spec['columns']}",
                              where=where("columns"))
    if "plots" in spec:
        bad = [p for p in spec["plots"] or [] if p not in PLOTS]
        if bad:
            raise ConfigError(f"unknown plot '{bad[0]}'", where=where("plots"), hint=did_you_mean(bad[0], PLOTS))
    if "confidence" in spec and not 0 < float(spec["confidence"]) < 1:
        raise ConfigError("'confidence' must be between 0 and 1", where=where("confidence"))
    return spec


def _layer(source: str | Path | Mapping[str, Any], defaults: Mapping[str, Any]):
    """``(data, where)`` of one spec layer, with unknown keys rejected."""
    if isinstance(source, (str, Path)):
        loaded = load_config(source)
        _check_keys(loaded.data, defaults, loaded.where)
        return loaded.data, loaded.where
    where = lambda key: f"report spec (key '{key}')"  # noqa: E731
    _check_keys(source, defaults, where)
    return dict(source), where


def load_spec(source: str | Path | Mapping[str, Any] | None, kind: str = "ablation",
              study_report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Resolve a spec: defaults ← ``reports/<kind>.yaml`` ← the study's ``report:`` ← ``source``.

    ``kind`` is ``ablation`` or ``leaderboard``. ``reports/<kind>.yaml`` (from the current folder) is
    used only when no explicit ``source`` (file or dict) is given.
    """
    defaults = ABLATION_DEFAULTS if kind == "ablation" else LEADERBOARD_DEFAULTS
    spec = copy.deepcopy(defaults)
    where = lambda key: f"report defaults (key '{key}')"  # noqa: E731
    default_file = Path("reports", f"{kind}.yaml")
    if source is None and default_file.is_file():
        data, where = _layer(default_file, defaults)
        spec = deep_merge(spec, data)
    if study_report:
        known = {k: v for k, v in study_report.items() if k in defaults}
        for key in sorted(set(study_report) - set(known)):
            print(f"rvosbench report: ignoring the study's report.{key} (not a report spec key; "
                  f"{did_you_mean(key, defaults)})", file=sys.stderr)
        spec = deep_merge(spec, known)
    if source is not None:
        data, where = _layer(source, defaults)
        spec = deep_merge(spec, data)
    return _validate(spec, where)
