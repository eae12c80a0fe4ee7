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

from rvosbench.core.config import LoadedConfig, apply_overrides, load_config, parse_override
from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.core.hashing import stable_hash
from rvosbench.core.locate import locate
from rvosbench.core.registry import MODELS, deep_merge
from rvosbench.core.schema import (CardSection, EvalSettings, ModelConfig, StudySection, TrainSettings,
                                   VariantSection, builder_schema, check, known_keys)
from rvosbench.core.validate import Origins, check_cell_sections, raise_first

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
    origins: Origins | None = None  # where each value was written (for errors found later, at check_plan)

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
                    train, evals, self.config, self.source, self.plugins, self.origins)


def read_card(name: str, base_dir: Path | None, where: str | None = None) -> tuple[dict[str, Any], LoadedConfig]:
    """Read and check a model card (``models/<name>.yaml``): ``({'card': {...}, 'model': {...}}, file)``.

    The ``card`` section is checked against :class:`~rvosbench.core.schema.CardSection`; the ``model``
    section needs the model registry and is checked with the plan (:func:`rvosbench.core.validate.check_plan`).
    """
    path = locate("models", name, base_dir, where=where)
    loaded = load_config(path)
    unknown = set(loaded.data) - CARD_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"unknown key '{key}' in a model card", where=loaded.where(key),
                          hint=f"a card holds 'card' and 'model'; {did_you_mean(key, CARD_KEYS)}")
    if not isinstance(loaded.data.get("model"), Mapping):
        raise ConfigError("model card has no 'model' section (a mapping with the model's type and keys)",
                          where=loaded.where("model") if "model" in loaded.data else str(path),
                          hint="e.g. model: {type: proxyformer, hidden_dim: 64}")
    card = loaded.data.get("card") or {}
    if not isinstance(card, Mapping):
        raise ConfigError("'card' must be a mapping", where=loaded.where("card"), hint="e.g. card: {name: my_model}")
    card = {"name": path.stem, **card}
    raise_first(check(CardSection, card, "card"), lambda key: [(loaded, key)])
    card["file"] = str(path)
    return {"card": card, "model": dict(loaded.data["model"])}, loaded


def load_card(name: str, base_dir: Path | None, where: str | None = None) -> dict[str, Any]:
    """Read a model card (``models/<name>.yaml``): ``{'card': {...}, 'model': {...}}``."""
    return read_card(name, base_dir, where)[0]


def own_card(shared: Mapping[str, Any] | None, override: Mapping[str, Any] | None) -> bool:
    """Whether a variant's model names a card other than the shared one (it then replaces the shared model)."""
    override = override or {}
    return "card" in override and override["card"] != (shared or {}).get("card")


def resolve_model(shared: Mapping[str, Any] | None, override: Mapping[str, Any] | None,
                  base_dir: Path | None, where: str) -> tuple[dict[str, Any], dict[str, Any], LoadedConfig | None]:
    """Return ``(model_config, card, card file)`` for a variant; ``where`` is where the card is named.

    A variant that names a different ``card`` starts from that card instead of the shared model (it
    is a different model, so the shared model's keys would not fit); otherwise its overrides
    deep-merge into the shared model.
    """
    shared = dict(shared or {})
    override = dict(override or {})
    merged = override if own_card(shared, override) else deep_merge(shared, override)
    card: dict[str, Any] = {}
    card_file = None
    card_name = merged.pop("card", None)
    if card_name is not None:
        if not isinstance(card_name, str) or not card_name:
            raise ConfigError(f"model.card must be the name of a model card, got {card_name!r}", where=where,
                              hint="e.g. card: proxyformer_tiny (a file models/<name>.yaml)")
        loaded, card_file = read_card(card_name, base_dir, where=where)
        card = loaded["card"]
        merged = deep_merge(loaded["model"], merged)
    if "type" not in merged:
        raise ConfigError("the model has no 'type'", where=where,
                          hint="set model.type (e.g. proxyformer) or model.card (e.g. proxyformer_tiny)")
    return merged, card, card_file


def read_benchmark(entry: Any, base_dir: Path | None, where: str, split_required: bool = True
                   ) -> tuple[str, dict[str, Any], LoadedConfig | None]:
    """Resolve ``synth/test`` or ``{name: synth, split: test, ...}`` to ``(display_name, config, file)``.

    ``name`` is a ``benchmarks/<name>.yaml`` name or a YAML path. Without ``split_required`` (``rvosbench
    data check`` checks every split) a config without a split is returned as it is, displayed by name.
    """
    if isinstance(entry, str):
        name, _, split = entry.partition("/")
        entry = {"name": name, **({"split": split} if split else {})}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"a benchmark entry must be a name or a mapping, got {entry!r}", where=where,
                          hint="e.g. synth/test, or {name: synth, split: test}")
    entry = dict(entry)
    name = entry.pop("name", None)
    loaded = None
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
    if not split and split_required:
        raise ConfigError(f"benchmark '{name}' has no split", where=where, hint=f"write {name}/<split>")
    config["name"] = str(name)
    return f"{name}/{split}" if split else str(name), config, loaded


def resolve_benchmark(entry: Any, base_dir: Path | None, where: str) -> tuple[str, dict[str, Any]]:
    """Resolve ``synth/test`` or ``{name: synth, split: test, ...}`` to ``(display_name, config)``."""
    return read_benchmark(entry, base_dir, where)[:2]


def read_benchmark_arg(spec: str, split: str | None = None, root: str | Path | None = None, where: str = "--benchmark",
                       split_required: bool = True) -> tuple[dict[str, Any], LoadedConfig | None]:
    """A benchmark named on the command line (``benchmarks/<name>.yaml``, a name, or ``name/split``), with
    ``--split`` and ``--root`` on top, resolved as a study's entry is: ``(config, file)``. A config read from
    a path is named after its file, as ``benchmarks/<name>.yaml`` is named ``<name>``."""
    by_path = spec.endswith((".yaml", ".yml"))
    name, _, named_split = (spec, "", "") if by_path else spec.partition("/")
    entry = {"name": name, **({"split": split or named_split} if split or named_split else {}),
             **({"root": str(root)} if root else {})}
    _, config, loaded = read_benchmark(entry, None, where, split_required)
    if by_path:
        config["name"] = Path(spec).stem
    return config, loaded


def config_key(config: Mapping[str, Any]) -> str:
    """Content hash of a cell config, leaving out where the card file lies (a moved checkout keeps keys)."""
    card = config.get("card")
    if isinstance(card, Mapping) and "file" in card:
        config = {**config, "card": {k: v for k, v in card.items() if k != "file"}}
    return stable_hash(config)


def _variants(data: Mapping[str, Any], loaded: LoadedConfig) -> Any:
    """The ``variants`` mapping; the list form (each item with a ``name``) is accepted and normalised
    (only the mapping form lets a child config change one variant)."""
    variants = data.get("variants")
    if isinstance(variants, list):
        try:
            return {v.pop("name"): v for v in map(dict, variants)}
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError("a list of variants needs a 'name' in each item", where=loaded.where("variants"),
                              hint="better: write variants as a mapping name -> overrides") from error
    return variants


def expand(loaded: LoadedConfig) -> Plan:
    """Expand a loaded study config into its plan, checking every section of every cell on the way."""
    data = loaded.data
    origins = Origins(loaded)
    variants = _variants(data, loaded)
    raise_first(check(StudySection, {**data, **({"variants": variants} if variants is not None else {})}),
                origins.of_study)
    base_dir = loaded.path.resolve().parent
    name = str(data.get("name") or loaded.path.stem)
    baseline = data.get("baseline") or next(iter(variants))
    if baseline not in variants:
        raise ConfigError(f"baseline '{baseline}' is not a variant", where=loaded.where("baseline"),
                          hint=did_you_mean(str(baseline), variants))
    seeds = data.get("seeds", [0])
    seeds = [seeds] if isinstance(seeds, int) else seeds
    benchmarks = []
    for index, entry in enumerate(data["benchmarks"]):
        display, bench, bench_file = read_benchmark(entry, base_dir, loaded.where(f"benchmarks.{index}"))
        if display in origins.benchmarks:
            raise ConfigError(f"benchmark {display} is listed twice", where=loaded.where(f"benchmarks.{index}"),
                              hint="list each benchmark once; its cells would be evaluated and counted twice")
        origins.benchmarks[display] = (f"benchmarks.{index}", bench_file)
        benchmarks.append((display, bench))
    train_cells: list[Cell] = []
    eval_cells: list[Cell] = []
    for variant, overrides in variants.items():
        overrides = dict(overrides or {})
        if own_card(data.get("model"), overrides.get("model")):
            origins.own_card.add(variant)
        card_where = Origins.where(origins.of_cell(variant, "model.card"))[0]
        model, card, card_file = resolve_model(data.get("model"), overrides.get("model"), base_dir, card_where)
        if card_file is not None:
            origins.cards[variant] = card_file
        train = deep_merge(data.get("train") or {}, overrides.get("train") or {})
        evaluation = deep_merge(data.get("eval") or {}, overrides.get("eval") or {})
        check_cell_sections(origins, variant, train, evaluation, card)
        if train.get("benchmark"):
            where = Origins.where(origins.of_cell(variant, "train.benchmark"))[0]
            train["benchmark"] = resolve_benchmark(train["benchmark"], base_dir, where)[1]
        if train.get("val_benchmark"):  # found now, not after training; kept as written (it is in the key)
            resolve_benchmark(train["val_benchmark"], base_dir, Origins.where(origins.of_cell(variant, "train.val_benchmark"))[0])
        for seed in seeds:
            train_config = {"model": model, "card": card, "train": train, "seed": seed}
            train_key = config_key(train_config)
            train_cells.append(Cell("train", name, variant, seed, train_config, train_key))
            for display, bench in benchmarks:
                config = {**train_config, "eval": evaluation, "benchmark": bench}
                eval_cells.append(Cell("eval", name, variant, seed, config, config_key(config),
                                       benchmark=display, train_key=train_key))
    plugins = data.get("plugins") or []
    return Plan(name=name, title=str(data.get("title") or name), baseline=str(baseline), variants=list(variants),
                seeds=seeds, benchmarks=[b for b, _ in benchmarks], train_cells=train_cells, eval_cells=eval_cells,
                config=data, source=loaded.path,
                plugins=[str((base_dir / p).resolve()) if str(p).endswith(".py") else str(p) for p in plugins],
                origins=origins)


def card_models(loaded: LoadedConfig) -> dict[str, dict[str, Any]]:
    """The ``model:`` keys of each card the study names, by the study key of the model section that
    names it (``model``, ``variants.<name>.model``)."""
    base_dir = loaded.path.resolve().parent
    sections = [("model", loaded.data.get("model"))]
    variants = loaded.data.get("variants")
    if isinstance(variants, Mapping):
        sections += [(f"variants.{name}.model", (v or {}).get("model")) for name, v in variants.items()
                     if isinstance(v, Mapping)]
    return {key: load_card(str(section["card"]), base_dir, where=loaded.where(f"{key}.card"))["model"]
            for key, section in sections if isinstance(section, Mapping) and isinstance(section.get("card"), str)}


def model_keys(model_type: Any) -> list[str]:
    """The keys a registered model's schema declares (none while the registry does not know the type)."""
    if not isinstance(model_type, str) or model_type not in MODELS:
        return []
    return known_keys(builder_schema(MODELS.resolve(model_type)[0], ModelConfig))


def settable_keys(parent: Sequence[str], cards: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Keys ``--set`` may set under ``parent`` without ``+``: the fields the section's schema declares
    (``train.val_every``), the keys a card the study names defines (``model.hidden_dim``), or those its
    model's schema declares (``model.proxy_temporal``; when the model registry is loaded)."""
    if not parent:
        return [field.alias or name for name, field in StudySection.model_fields.items()]
    if parent[0] == "variants":
        if len(parent) < 3:
            return list(VariantSection.model_fields) if len(parent) == 2 else []
        head, rest, card_key = parent[2], list(parent[3:]), ".".join(parent[:3])
    else:
        head, rest, card_key = parent[0], list(parent[1:]), "model"
    if head == "model":
        node: Any = cards.get(card_key) or cards.get("model") or {}
        declared = model_keys(node.get("type")) if not rest else []
        for part in rest:
            node = node.get(part) if isinstance(node, Mapping) else None
        return [*(node if isinstance(node, Mapping) else []), *declared]
    schema = {"train": TrainSettings, "eval": EvalSettings}.get(head)
    return known_keys(schema, rest) if schema is not None else []


def load_plan(path: str | Path, overrides: Sequence[str] = ()) -> Plan:
    """Load a study file, apply ``--set`` overrides (remembering each one for error messages), and
    expand it; every value is checked before anything runs."""
    loaded = load_config(path)
    if overrides:
        cards = card_models(loaded)
        loaded.data = apply_overrides(loaded.data, overrides, known=lambda parent: settable_keys(parent, cards))
        loaded.overrides = [(parse_override(text)[0], text) for text in overrides]
    return expand(loaded)
