"""Named registries for every pluggable part, on mmengine's Registry.

mmengine gives ``register_module`` (duplicate names are errors), ``get`` and ``build`` from a ``type``
key. On top of it this adds what users of a benchmark need:

* ``list('proxyformer*')``: fnmatch wildcards, one short description per entry (first docstring line);
* unknown names fail with a did-you-mean :class:`ConfigError` instead of returning ``None``;
* **variants**: dotted names such as ``proxyformer.no_jsc`` resolve to a base entry plus config
  overrides (timm's ``arch.tag`` idea). mmengine would read the dot as a scope prefix, so variant names
  are resolved here before mmengine ever sees them.
"""
from __future__ import annotations

import copy
import fnmatch
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mmengine.registry import Registry as _MMRegistry

from rvosbench.core.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Variant:
    """A registered name that means ``base`` with ``overrides`` deep-merged into its config."""

    name: str
    base: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Dicts merge recursively; lists and scalars replace; ``_delete_: true`` replaces a dict whole."""
    result = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping):
            value = dict(value)
            if value.pop("_delete_", False) or not isinstance(result.get(key), Mapping):
                result[key] = deep_merge({}, value)
            else:
                result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def describe(obj: Any) -> str:
    """First line of an object's docstring: the one-line description ``rvosbench list`` shows."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry(_MMRegistry):
    """mmengine Registry with wildcards, did-you-mean errors and dotted variant names."""

    def __init__(self, name: str):
        super().__init__(name, scope="rvosbench")
        self._variants: dict[str, Variant] = {}

    # -- registration -------------------------------------------------------------------------
    def register_variant(self, name: str, base: str, overrides: Mapping[str, Any], description: str = "") -> None:
        """Register ``name`` (``base.tag``) as ``base`` plus config ``overrides``."""
        if name in self._variants or name in self._module_dict:
            raise ConfigError(f"{self.name} '{name}' is already registered", hint="choose another name")
        self._variants[name] = Variant(name, base, dict(overrides), description)

    def _register_module(self, module, module_name=None, force=False):  # noqa: D401 - mmengine hook
        """Same as mmengine's, but a duplicate name is a ConfigError naming both definitions."""
        names = [module_name] if isinstance(module_name, str) else (module_name or [module.__name__])
        for name in names:
            if not force and (name in self._module_dict or name in self._variants):
                existing = self._module_dict.get(name)
                origin = getattr(existing, "__module__", "a variant")
                raise ConfigError(
                    f"{self.name} '{name}' is already registered (by {origin})",
                    where=getattr(module, "__module__", None),
                    hint="choose another name; duplicates would silently shadow each other",
                )
        super()._register_module(module, module_name, force)

    # -- lookup -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted([*self._module_dict, *self._variants])

    def __contains__(self, name: object) -> bool:
        return name in self._module_dict or name in self._variants

    def resolve(self, name: str, where: str | None = None) -> tuple[type | Callable, dict[str, Any]]:
        """Return ``(builder, overrides)`` for a plain or dotted variant name, or raise ConfigError."""
        overrides: dict[str, Any] = {}
        seen = set()
        while name in self._variants:
            if name in seen:
                raise ConfigError(f"{self.name} variant cycle at '{name}'")
            seen.add(name)
            variant = self._variants[name]
            overrides = deep_merge(variant.overrides, overrides)
            name = variant.base
        if name not in self._module_dict:
            raise ConfigError(
                f"unknown {self.name} '{name}'", where=where, hint=did_you_mean(name, self.names())
            )
        return self._module_dict[name], overrides

    def get(self, key: str):  # type: ignore[override]
        """Look up a plain name; unknown names raise instead of returning None."""
        return self.resolve(key)[0]

    def build_from(self, cfg: Mapping[str, Any], where: str | None = None, **default_args: Any) -> Any:
        """Build from a config with a ``type`` key.

        A variant's overrides are merged *over* the config: the config usually comes from a model card
        that spells out every default (``loss.jsc_weight: 1.0``), and ``type: proxyformer.no_jsc`` must
        still mean "without JSC". To change a key a variant defines, use the base name with that key.
        """
        if "type" not in cfg:
            raise ConfigError(f"missing 'type' for a {self.name}", where=where, hint=f"add type: <{self.name} name>")
        cfg = dict(cfg)
        builder, overrides = self.resolve(cfg.pop("type"), where=where)
        kwargs = deep_merge(cfg, overrides)
        kwargs = {**default_args, **kwargs}
        try:
            return builder(**kwargs)
        except TypeError as error:
            if "unexpected keyword argument" in str(error) or "missing" in str(error):
                raise ConfigError(f"cannot build {self.name} '{getattr(builder, '__name__', builder)}': {error}",
                                  where=where, hint="check the keys against its documented arguments") from error
            raise

    def list(self, pattern: str = "*") -> list[tuple[str, str]]:
        """``(name, description)`` for every name matching the fnmatch ``pattern``."""
        rows = []
        for name in self.names():
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            if name in self._variants:
                variant = self._variants[name]
                rows.append((name, variant.description or f"{variant.base} with {dict(variant.overrides)}"))
            else:
                rows.append((name, describe(self._module_dict[name])))
        return rows


MODELS = Registry("model")
BENCHMARKS = Registry("benchmark")
PROTOCOLS = Registry("protocol")
REPORTERS = Registry("reporter")
BACKBONES = Registry("backbone")
TEXT_ENCODERS = Registry("text_encoder")

ALL_REGISTRIES: dict[str, Registry] = {
    "models": MODELS,
    "benchmarks": BENCHMARKS,
    "protocols": PROTOCOLS,
    "reporters": REPORTERS,
    "backbones": BACKBONES,
    "text_encoders": TEXT_ENCODERS,
}
