"""Config files: YAML with ``_base_`` inheritance (mmengine Config), ``--set`` overrides, diffs.

Semantics are mmengine's, so OpenMMLab users feel at home: ``_base_`` is a path or a list of paths
relative to the file; dicts deep-merge with the child last; lists and scalars replace; ``_delete_: true``
replaces a dict. Every file in the chain is first read by :mod:`rvosbench.core.yamlio`, so a syntax error
or a bad key is reported as ``file:line`` instead of a parser traceback from deep inside mmengine.
"""
from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from mmengine.config import Config

from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.core.yamlio import parse_scalar, read_yaml


@dataclass
class LoadedConfig:
    """A resolved config (plain dicts) plus where each key came from, for error messages."""

    data: dict[str, Any]
    path: Path
    files: list[Path] = field(default_factory=list)  # the file itself first, then its bases
    lines: dict[Path, dict[str, int]] = field(default_factory=dict)
    # (dotted key, the --set as written, or another option's flag and value, e.g. "--split valid")
    overrides: list[tuple[str, str]] = field(default_factory=list)

    def origin(self, dotted_key: str, exact: bool = False) -> str | None:
        """Who wrote ``dotted_key`` last: ``--set <as written>`` (or the option that set it), or ``file:line``
        (child file first).

        An override of a parent key (``--set model={...}``) wrote its children too. Unless ``exact``,
        a key no file names is attributed to its nearest written parent (an inline mapping's line).
        """
        for key, text in reversed(self.overrides):
            if dotted_key == key or dotted_key.startswith(key + "."):
                return text if text.startswith("--") else f"--set {text}"
        parts = dotted_key.split(".")
        for depth in [len(parts)] if exact else range(len(parts), 0, -1):
            for path in self.files:
                line = self.lines.get(path, {}).get(".".join(parts[:depth]))
                if line is not None:
                    return f"{path}:{line}"
        return None

    def where(self, dotted_key: str) -> str:
        """``file:line (key '...')`` or ``--set ...`` for ``dotted_key``; the top file when unknown."""
        origin = self.origin(dotted_key)
        if origin is not None and origin.startswith("--"):
            return origin
        return f"{origin or self.path} (key '{dotted_key}')"


def _base_paths(data: Any, path: Path) -> list[Path]:
    if not isinstance(data, Mapping) or "_base_" not in data:
        return []
    bases = data["_base_"]
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError("'_base_' must be a path or a list of paths", where=str(path))
    return [(path.parent / b).resolve() for b in bases]


def _collect(path: Path, loaded: LoadedConfig, stack: tuple[Path, ...]) -> None:
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise ConfigError(f"_base_ cycle: {chain}", where=str(stack[-1]))
    data, lines = read_yaml(path)
    if data is None:
        raise ConfigError("the file is empty (or only comments)", where=str(path),
                          hint="a config holds a mapping of keys, e.g. see ablations/jsc.yaml")
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config file must hold a mapping of keys at the top level, not a "
                          f"{type(data).__name__}", where=str(path), hint="write key: value lines")
    loaded.files.append(path)
    loaded.lines[path] = lines
    for base in _base_paths(data, path):
        if not base.is_file():
            line = lines.get("_base_", 0)
            raise ConfigError(f"_base_ file not found: {base}", where=f"{path}:{line}", hint="fix the relative path")
        _collect(base, loaded, (*stack, path))


def load_config(path: str | Path) -> LoadedConfig:
    """Load a YAML config with its ``_base_`` chain into plain dicts."""
    path = Path(path)
    loaded = LoadedConfig(data={}, path=path)
    _collect(path.resolve() if path.exists() else path, loaded, ())
    loaded.path = path
    try:
        config = Config.fromfile(str(path))
    except Exception as error:  # mmengine raises assorted types for the same user mistakes
        raise ConfigError(f"cannot resolve config: {error}", where=str(path)) from error
    loaded.data = to_plain(config.to_dict())
    return loaded


def to_plain(value: Any) -> Any:
    """Convert mmengine ConfigDicts (and tuples) to plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def parse_override(text: str) -> tuple[str, Any, bool]:
    """Split ``a.b=1`` / ``+a.b=1`` into ``(key, value, may_add)``."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not KEY=VALUE", hint="write e.g. --set train.steps=20")
    key, raw = text.split("=", 1)
    key = key.strip()
    may_add = key.startswith("+")
    key = key.lstrip("+")
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key part", hint="write e.g. --set model.hidden_dim=64")
    return key, parse_scalar(raw), may_add


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], source: str = "--set",
                    known: Callable[[list[str]], Collection[str]] | None = None) -> dict[str, Any]:
    """Return a copy of ``data`` with dotted overrides applied.

    A key ``data`` lacks needs a leading ``+`` unless it is among ``known(parent parts)``, the keys the
    config accepts there (a schema's fields, a model card's keys); what added keys mean is checked later.
    """
    result = copy.deepcopy(data)
    for text in overrides:
        key, value, may_add = parse_override(text)
        node: Any = result
        parts = key.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"index '{part}' is out of range in '{key}'", where=f"{source} {text}")
                part_key: Any = int(part)
            elif isinstance(node, dict):
                part_key = part
                if part not in node:
                    accepted = set(known(parts[:depth])) if known is not None else set()
                    if part not in accepted and not may_add:
                        prefix = ".".join(parts[:depth]) or "the top level"
                        adding = "" if known is not None else f"; to add a new key write +{key}=..."
                        raise ConfigError(f"unknown key '{key}' ('{part}' is not under {prefix})",
                                          where=f"{source} {text}", hint=did_you_mean(part, {*node, *accepted}) + adding)
                    node[part] = {} if not last else None
            else:
                raise ConfigError(f"cannot set '{key}': '{'.'.join(parts[:depth])}' is not a mapping",
                                  where=f"{source} {text}")
            if last:
                node[part_key] = value
            else:
                if node[part_key] is None:
                    node[part_key] = {}
                node = node[part_key]
    return result


def dump_flow(value: Any) -> str:
    """One value as one line of YAML (``0.0005``, ``[0, 1]``, ``{short_side: 64}``) for hints."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 16, allow_unicode=True).strip()
    return text.removesuffix("...").strip()


def dump_yaml(data: Any) -> str:
    """Stable, readable YAML (keys in written order) for ``show`` and stored configs."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def diff_configs(a: Mapping[str, Any], b: Mapping[str, Any], name_a: str = "a", name_b: str = "b") -> str:
    """Unified diff of two resolved configs, as ``rvosbench show A B --diff`` prints it."""
    left = dump_yaml(to_plain(a)).splitlines(keepends=True)
    right = dump_yaml(to_plain(b)).splitlines(keepends=True)
    return "".join(difflib.unified_diff(left, right, fromfile=name_a, tofile=name_b))
