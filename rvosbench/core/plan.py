"""Ablation studies: the YAML schema and its expansion into cells.

A study file has shared keys and a ``variants`` **mapping** name → overrides (a mapping, not a list, so
a child config can add or change one variant; mmengine replaces lists whole). Expansion:

* a **training cell** per (variant, seed): resolved ``model`` + ``train`` + ``seed``;
* an **evaluation cell** per (variant, seed, benchmark): the training cell's config + ``eval`` + the
  resolved benchmark config.

Each cell carries a content hash of its resolved config, so the same config always gives the same key
and any change gives a new one. (The result store adds the checkpoint hash, benchmark fingerprint and
metric version at run time.)

Model cards and benchmark configs are referenced by name: ``model: {card: proxyformer_tiny, ...}``
starts from ``models/proxyformer_tiny.yaml``'s ``model`` section and deep-merges the rest;
``benchmarks: [synth/test]`` reads ``benchmarks/synth.yaml`` with ``split: test``.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rvosbench.core.config import LoadedConfig, apply_overrides, load_config
from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.core.hashing import stable_hash
from rvosbench.core.locate import locate
from rvosbench.core.registry import deep_merge

STUDY_KEYS = {
    "_base_", "schema_version", "name", "title", "description", "model", "train", "eval", "benchmarks",
    "seeds", "plugins", "report", "baseline", "variants",
}
VARIANT_KEYS = {"model", "train", "eval", "description"}
CARD_KEYS = {"_base_", "card", "model"}


@dataclass(frozen=True)
class Cell:
    """One unit of work: training a (variant, seed) or evaluating it on one benchmark."""

    kind: str  # "train" or "eval"
    study: str
    variant: str
    seed: int
    config: dict[str, Any]
    key: str
    benchmark: str | None = None  # display name, e.g. "synth/test"
    train_key: str | None = None

    @property
    def id(self) -> str:
        base = f"{self.variant}-s{self.seed}"
        if self.kind == "eval":
            return f"{base}--{self.benchmark.replace('/', '-')}"
        return base


@dataclass
class Plan:
    """The expanded study: every training and evaluation cell, in run order."""

    name: str
    title: str
    baseline: str
    variants: list[str]
    seeds: list[int]
    benchmarks: list[str]
    train_cells: list[Cell]
    eval_cells: list[Cell]
    config: dict[str, Any]
    source: Path
    plugins: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return stable_hash([c.key for c in (*self.train_cells, *self.eval_cells)])

    def filtered(self, pattern: str | None) -> Plan:
        """Keep the cells whose variant or cell id matches any comma-separated fnmatch pattern."""
        if not pattern:
            return self
        patterns = [p.strip() for p in pattern.split(",") if p.strip()]

        def keep(cell: Cell) -> bool:
            return any(fnmatch.fnmatchcase(cell.variant, p) or fnmatch.fnmatchcase(cell.id, p) for p in patterns)

        train = [c for c in self.train_cells if keep(c)]
        evals = [c for c in self.eval_cells if keep(c)]
        if not train and not evals:
            raise ConfigError(f"--only {pattern!r} matches no cell", hint=did_you_mean(patterns[0], self.variants))
        return Plan(self.name, self.title, self.baseline, self.variants, self.seeds, self.benchmarks,
                    train, evals, self.config, self.source, self.plugins)


def load_card(name: str, base_dir: Path | None, where: str | None = None) -> dict[str, Any]:
    """Read a model card (``models/<name>.yaml``): ``{'card': {...}, 'model': {...}}``."""
    path = locate("models", name, base_dir, where=where)
    loaded = load_config(path)
    unknown = set(loaded.data) - CARD_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"unknown key '{key}' in a model card", where=loaded.where(key),
                          hint=f"a card holds 'card' and 'model'; {did_you_mean(key, CARD_KEYS)}")
    if "model" not in loaded.data:
        raise ConfigError("model card has no 'model' section", where=str(path))
    card = dict(loaded.data.get("card") or {})
    card.setdefault("name", path.stem)
    card["file"] = str(path)
    return {"card": card, "model": dict(loaded.data["model"])}


def resolve_model(shared: Mapping[str, Any] | None, override: Mapping[str, Any] | None,
                  base_dir: Path | None, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(model_config, card)`` for a variant.

    A variant that names a different ``card`` starts from that card instead of the shared model (it
    is a different model, so the shared model's keys would not fit); otherwise its overrides
    deep-merge into the shared model.
    """
    shared = dict(shared or {})
    override = dict(override or {})
    if "card" in override and override["card"] != shared.get("card"):
        merged = override
    else:
        merged = deep_merge(shared, override)
    card: dict[str, Any] = {}
    card_name = merged.pop("card", None)
    if card_name is not None:
        loaded = load_card(str(card_name), base_dir, where=where)
        card = loaded["card"]
        merged = deep_merge(loaded["model"], merged)
    if "type" not in merged:
        raise ConfigError("the model has no 'type'", where=where,
                          hint="set model.type (e.g. proxyformer) or model.card (e.g. proxyformer_tiny)")
    return merged, card


def resolve_benchmark(entry: Any, base_dir: Path | None, where: str) -> tuple[str, dict[str, Any]]:
    """Resolve ``synth/test`` or ``{name: synth, split: test, ...}`` to ``(display_name, config)``."""
    if isinstance(entry, str):
        name, _, split = entry.partition("/")
        entry = {"name": name, **({"split": split} if split else {})}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"a benchmark entry must be a name or a mapping, got {entry!r}", where=where)
    entry = dict(entry)
    name = entry.pop("name", None)
    if name is not None:
        loaded = load_config(locate("benchmarks", str(name), base_dir, where=where))
        config = deep_merge(loaded.data, entry)
        config.pop("_base_", None)
    else:
        config = entry
        name = config.get("type")
    if "type" not in config:
        raise ConfigError("benchmark has no 'type'", where=where, hint="name a benchmarks/<name>.yaml or give type:")
    split = config.get("split")
    if not split:
        raise ConfigError(f"benchmark '{name}' has no split", where=where, hint=f"write {name}/<split>")
    config["name"] = str(name)
    return f"{name}/{split}", config


def config_key(config: Mapping[str, Any]) -> str:
    """Content hash of a cell config, leaving out where the card file lies (a moved checkout keeps keys)."""
    card = config.get("card")
    if isinstance(card, Mapping) and "file" in card:
        config = {**config, "card": {k: v for k, v in card.items() if k != "file"}}
    return stable_hash(config)


def _check_keys(data: Mapping[str, Any], allowed: set[str], loaded: LoadedConfig, prefix: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(f"unknown key '{prefix}{key}'", where=loaded.where(prefix + key),
                              hint=did_you_mean(key, allowed - {"_base_"}))


def _seeds(value: Any, loaded: LoadedConfig) -> list[int]:
    seeds = [value] if isinstance(value, int) else value
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError("'seeds' must be an integer or a non-empty list of integers", where=loaded.where("seeds"))
    return seeds


def expand(loaded: LoadedConfig) -> Plan:
    """Expand a loaded study config into its plan."""
    data = loaded.data
    _check_keys(data, STUDY_KEYS, loaded)
    base_dir = loaded.path.resolve().parent
    name = str(data.get("name") or loaded.path.stem)
    variants = data.get("variants")
    if isinstance(variants, list):  # accepted, normalised; only the mapping form inherits piecewise
        try:
            variants = {v.pop("name"): v for v in map(dict, variants)}
        except (KeyError, TypeError) as error:
            raise ConfigError("a list of variants needs a 'name' in each item", where=loaded.where("variants"),
                              hint="better: write variants as a mapping name -> overrides") from error
    if not isinstance(variants, Mapping) or not variants:
        raise ConfigError("a study needs 'variants': a mapping of name -> overrides", where=loaded.where("variants")
                          if "variants" in data else str(loaded.path), hint="e.g. variants: {proxyformer: {}}")
    baseline = data.get("baseline") or next(iter(variants))
    if baseline not in variants:
        raise ConfigError(f"baseline '{baseline}' is not a variant", where=loaded.where("baseline"),
                          hint=did_you_mean(str(baseline), variants))
    seeds = _seeds(data.get("seeds", [0]), loaded)
    entries = data.get("benchmarks") or []
    if not isinstance(entries, list) or not entries:
        raise ConfigError("a study needs 'benchmarks': a non-empty list", where=str(loaded.path),
                          hint="e.g. benchmarks: [synth/test]")
    benchmarks = [resolve_benchmark(e, base_dir, loaded.where(f"benchmarks.{i}")) for i, e in enumerate(entries)]
    train_cells: list[Cell] = []
    eval_cells: list[Cell] = []
    for variant, overrides in variants.items():
        overrides = dict(overrides or {})
        _check_keys(overrides, VARIANT_KEYS, loaded, prefix=f"variants.{variant}.")
        where = loaded.where(f"variants.{variant}")
        model, card = resolve_model(data.get("model"), overrides.get("model"), base_dir, where)
        train = deep_merge(data.get("train") or {}, overrides.get("train") or {})
        evaluation = deep_merge(data.get("eval") or {}, overrides.get("eval") or {})
        if train.get("benchmark"):
            train["benchmark"] = resolve_benchmark(train["benchmark"], base_dir, loaded.where("train.benchmark"))[1]
        for seed in seeds:
            train_config = {"model": model, "card": card, "train": train, "seed": seed}
            train_key = config_key(train_config)
            train_cells.append(Cell("train", name, variant, seed, train_config, train_key))
            for display, bench in benchmarks:
                config = {**train_config, "eval": evaluation, "benchmark": bench}
                eval_cells.append(Cell("eval", name, variant, seed, config, config_key(config),
                                       benchmark=display, train_key=train_key))
    plugins = data.get("plugins") or []
    if not isinstance(plugins, list):
        raise ConfigError("'plugins' must be a list of files or modules", where=loaded.where("plugins"))
    return Plan(name=name, title=str(data.get("title") or name), baseline=str(baseline), variants=list(variants),
                seeds=seeds, benchmarks=[b for b, _ in benchmarks], train_cells=train_cells, eval_cells=eval_cells,
                config=data, source=loaded.path,
                plugins=[str((base_dir / p).resolve()) if str(p).endswith(".py") else str(p) for p in plugins])


def inline_cards(loaded: LoadedConfig) -> None:
    """Merge each referenced card's model keys into the study data (the ``card`` key stays).

    Done before ``--set`` overrides so ``--set model.hidden_dim=32`` finds keys that only the card
    defines. Resolving again later is idempotent: the user's values already sit on top.
    """
    base_dir = loaded.path.resolve().parent
    sections = [("model", loaded.data.get("model"))]
    variants = loaded.data.get("variants")
    if isinstance(variants, Mapping):
        sections += [(f"variants.{name}.model", (v or {}).get("model")) for name, v in variants.items()
                     if isinstance(v, Mapping)]
    for key, section in sections:
        if isinstance(section, dict) and section.get("card") is not None:
            card_model = load_card(str(section["card"]), base_dir, where=loaded.where(key))["model"]
            merged = deep_merge(card_model, section)
            section.clear()
            section.update(merged)


def load_plan(path: str | Path, overrides: Sequence[str] = ()) -> Plan:
    """Load a study file, apply ``--set`` overrides, and expand it."""
    loaded = load_config(path)
    inline_cards(loaded)
    if overrides:
        loaded.data = apply_overrides(loaded.data, overrides)
    return expand(loaded)
