"""YAML reading that remembers where each key was written.

Error messages must say *file:line* for a bad key. PyYAML's node tree carries line numbers, so each
file is composed once into nodes, converted to plain data, and a ``{dotted.key: line}`` index is kept.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from rvosbench.core.errors import ConfigError, first_line


def read_yaml(path: str | Path) -> tuple[Any, dict[str, int]]:
    """Return ``(data, lines)`` where ``lines`` maps dotted keys to 1-based line numbers."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("file not found", where=str(path), hint="check the path (relative to where you run)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"not UTF-8 text (byte {error.start})", where=str(path), hint="save the file as UTF-8") from error
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = error.problem or first_line(error)
        raise ConfigError(f"YAML syntax error: {problem}", where=f"{path}{line}", hint="fix the YAML at that line") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"YAML error: {error}", where=str(path)) from error
    lines: dict[str, int] = {}
    if node is not None:
        _index_lines(node, "", lines, path)
    return data, lines


def _index_lines(node: yaml.Node, prefix: str, lines: dict[str, int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.value in seen and key_node.value != "<<":  # YAML keeps the last one silently
                raise ConfigError(f"duplicate key '{prefix}{key_node.value}' (also on line {seen[key_node.value]})",
                                  where=f"{path}:{line}", hint="keep one of them: YAML would silently use the last")
            seen[key_node.value] = line
            key = f"{prefix}{key_node.value}"
            lines[key] = line
            _index_lines(value_node, key + ".", lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            key = f"{prefix}{index}"
            lines[key] = item.start_mark.line + 1
            _index_lines(item, key + ".", lines, path)


def parse_scalar(text: str) -> Any:
    """Parse a ``--set`` value as YAML (``1`` → int, ``[1,2]`` → list, ``off`` → str stays str).

    ``1e-4`` is a number, as in YAML 1.2 and Python (PyYAML's YAML 1.1 rules would read it as text).
    """
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or first_line(error)
        raise ConfigError(f"cannot parse value {text!r}: {problem}", hint="quote it or write valid YAML") from error
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    return value


_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
