"""Plan-time checks: every section of every cell against its schema, before any work starts.

Two stages, because only the second needs the registries filled (built-ins and plug-ins loaded):

* :func:`check_cell_sections` runs while the plan expands (:func:`rvosbench.core.plan.expand`): the
  study, each variant, each cell's merged ``train`` and ``eval`` sections, and the card input they
  override;
* :func:`check_plan` runs once the catalog is loaded (``rvosbench run`` and ``show`` call it): each
  variant's model config against its model class's schema (:func:`rvosbench.core.schema.schema_of`),
  each benchmark's options against its class's, ``train.steps: 0`` and missing training data.

A problem is reported where the value was written: the ``--set`` that set it, else the study line
(the variant's own line before the shared one), else the model card's or benchmark file's line.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rvosbench.core.config import LoadedConfig
from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import BENCHMARKS, MODELS, PROTOCOLS, deep_merge
from rvosbench.core.schema import (BenchmarkConfig, EvalSettings, Input, ModelConfig, Problem, TrainSettings,
                                   check, check_registered)

if TYPE_CHECKING:
    from rvosbench.core.plan import Plan

Candidates = list[tuple[LoadedConfig, str]]  # (file chain, dotted key in it), most specific first


@dataclass
class Origins:
    """Where the values of a plan were written: the study (with its ``--set`` overrides), each
    variant's model card, each benchmark's config file."""

    study: LoadedConfig
    cards: dict[str, LoadedConfig] = field(default_factory=dict)  # variant -> its card file
    own_card: set[str] = field(default_factory=set)  # variants whose card replaces the shared model
    benchmarks: dict[str, tuple[str, LoadedConfig | None]] = field(default_factory=dict)  # display -> (key, file)

    def of_study(self, key: str) -> Candidates:
        return [(self.study, key)]

    def of_cell(self, variant: str, key: str) -> Candidates:
        """``model.x`` / ``train.x`` / ``eval.x`` of a variant: its own override, the shared section (unless
        the variant names its own card), then its card's ``model:`` or ``card.input``."""
        section, _, rest = key.partition(".")
        found = [(self.study, f"variants.{variant}.{key}")]
        if not (section == "model" and variant in self.own_card):
            found.append((self.study, key))
        card = self.cards.get(variant)
        if card is not None and section == "model":
            found.append((card, key))
        if card is not None and section in ("train", "eval") and rest.startswith("input"):
            found.append((card, f"card.{rest}"))
        return found

    def of_benchmark(self, display: str, key: str) -> Candidates:
        """An option of a study benchmark: the study's entry, then the benchmark's file."""
        entry, loaded = self.benchmarks.get(display, ("benchmarks", None))
        return [(self.study, f"{entry}.{key}")] + ([(loaded, key)] if loaded is not None else [])

    @staticmethod
    def where(candidates: Candidates) -> tuple[str, str, bool]:
        """``(where, dotted key as written there, via --set)`` of the most specific origin: a ``--set``,
        else the first candidate written exactly there; a key written nowhere is attributed to the
        nearest written parent of the most general candidate (the shared section, not one variant)."""
        written = [(loaded, key, loaded.origin(key, exact=True)) for loaded, key in candidates]
        written = [w for w in written if w[2] is not None]
        best = next((w for w in written if w[2].startswith("--")), written[0] if written else None)
        if best is None:
            loaded, key = next(((l, k) for l, k in reversed(candidates) if l is candidates[0][0]), candidates[0])
            best = (loaded, key, loaded.origin(key))
        loaded, key, origin = best
        if origin is None:
            return f"{loaded.path} (key '{key}')", key, False
        if origin.startswith("--"):
            return origin, key, True
        return f"{origin} (key '{key}')", key, False


def fail(problem: Problem, locate: Callable[[str], Candidates]) -> NoReturn:
    """Raise ``problem`` as one ConfigError line, where its most specific key was written."""
    candidates = [c for key in problem.keys for c in locate(key)]
    where, key, via_override = Origins.where(candidates)
    raise ConfigError(problem.what, where=where, hint=problem.fix(key, via_override))


def raise_first(problems: Sequence[Problem], locate: Callable[[str], Candidates]) -> None:
    if problems:
        fail(problems[0], locate)


def check_cell_sections(origins: Origins, variant: str, train: Mapping[str, Any], evaluation: Mapping[str, Any],
                        card: Mapping[str, Any]) -> None:
    """A variant's merged ``train`` and ``eval`` sections, and the card input each one overrides."""
    locate = lambda key: origins.of_cell(variant, key)  # noqa: E731
    raise_first(check(TrainSettings, dict(train), "train"), locate)
    raise_first(check(EvalSettings, dict(evaluation), "eval"), locate)
    for name, section in (("train", train), ("eval", evaluation)):
        merged = deep_merge(card.get("input") or {}, section.get("input") or {})
        raise_first(check(Input, merged, f"{name}.input"), locate)


def card_checkpoint(card: Mapping[str, Any]) -> str | None:
    """The checkpoint path a card names, if any (``checkpoint: {path: ...}`` or a bare path)."""
    spec = card.get("checkpoint")
    return (spec.get("path") if isinstance(spec, Mapping) else spec) or None


def check_plan(plan: Plan) -> None:
    """The checks that need the registries: models, benchmarks and what ``train.steps`` implies.

    Call it after the catalog and the study's plug-ins are loaded, before any work.
    """
    origins = plan.origins or Origins(LoadedConfig(data=plan.config, path=plan.source))
    benchmarks = {c.benchmark: c.config["benchmark"] for c in plan.eval_cells}
    for display, config in benchmarks.items():
        check_benchmark(config, lambda key, d=display: origins.of_benchmark(d, key))
    seen: set[str] = set()
    for cell in plan.train_cells:
        if cell.variant in seen:
            continue
        seen.add(cell.variant)
        locate = lambda key, v=cell.variant: origins.of_cell(v, key)  # noqa: E731
        raise_first(check_registered(MODELS, cell.config["model"], "model", base=ModelConfig), locate)
        check_training(cell.config, locate, Path(plan.source).resolve().parent if plan.source else None)


def check_benchmark(config: Mapping[str, Any], locate: Callable[[str], Candidates], prefix: str = "") -> None:
    """A resolved benchmark config: its class's options, its split (when it names one), its protocol."""
    raise_first(check_registered(BENCHMARKS, config, prefix, base=BenchmarkConfig), locate)
    builder = BENCHMARKS.resolve(config["type"])[0]
    splits = tuple(getattr(builder, "splits", ()) or ())
    split_key = f"{prefix}.split" if prefix else "split"
    if splits and "split" in config and config["split"] not in splits:
        fail(Problem((split_key,), f"{config['type']} has no split {config.get('split')!r}",
                     hint=f"choose one of: {', '.join(splits)}"), locate)
    protocol = config.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        from rvosbench.core.errors import did_you_mean

        key = f"{prefix}.protocol" if prefix else "protocol"
        fail(Problem((key,), f"unknown protocol {protocol!r}", hint=did_you_mean(str(protocol), PROTOCOLS.names())),
             locate)


def check_training(config: Mapping[str, Any], locate: Callable[[str], Candidates], base_dir: Path | None) -> None:
    """What a training cell's ``train.steps`` implies for its model and data; its training and validation
    benchmarks against their classes' schemas (``val_benchmark`` stays as written in the plan, since it is
    part of the content key, so it is resolved here the same way; ``base_dir``: the study's folder)."""
    from rvosbench.core.plan import resolve_benchmark

    builder = MODELS.resolve(config["model"]["type"])[0]
    train = config.get("train") or {}
    settings = TrainSettings.model_validate(dict(train))
    for key in ("benchmark", "val_benchmark"):
        value = train.get(key)
        if value and not (isinstance(value, Mapping) and "type" in value):  # not resolved by the plan yet
            value = resolve_benchmark(value, base_dir, Origins.where(locate(f"train.{key}"))[0])[1]
        if value:
            check_benchmark(value, locate, prefix=f"train.{key}")
    if not getattr(builder, "trainable", True):
        return
    if settings.steps == 0 and not card_checkpoint(config.get("card") or {}) and not settings.evaluate_untrained:
        fail(Problem(("train.steps",), "train.steps is 0 and the model card has no checkpoint, so the cell "
                     "would evaluate a randomly initialised model",
                     hint="set train.steps >= 1, fill in card.checkpoint.path to evaluate released weights, or "
                          "set train.evaluate_untrained: true to score the model as built on purpose"), locate)
    if settings.steps > 0 and settings.benchmark is None:
        fail(Problem(("train.benchmark",), f"train.steps is {settings.steps} but there is no training data",
                     hint="set train.benchmark (e.g. synth/train), or train.steps: 0 to evaluate the card's "
                          "checkpoint"), locate)
