"""Load user plug-ins that register models, benchmarks, protocols or reporters.

A plug-in file is imported under a unique module name derived from its path
(``rvosbench_plugin_<stem>_<hash>``), never by putting its folder on ``sys.path``: RVOS codebases ship
top-level ``models``/``datasets``/``util`` packages that would shadow each other (and rvosbench's own
top-level config folders). Installed packages register through the entry-point group
``rvosbench.plugins``. Any error inside a plug-in is reported with the plug-in's file and line.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from importlib import metadata
from pathlib import Path
from types import ModuleType

from rvosbench.core.errors import PluginError, UserError

ENTRY_POINT_GROUP = "rvosbench.plugins"
_loaded: dict[str, ModuleType] = {}


def _plugin_frame(error: BaseException, path: Path) -> str:
    """``file:line`` of the deepest traceback frame inside the plug-in file."""
    where = str(path)
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename).resolve() == path:
            where = f"{path}:{frame.lineno}"
    if isinstance(error, SyntaxError) and error.lineno:
        where = f"{path}:{error.lineno}"
    return where


def load_plugin_file(path: str | Path) -> ModuleType:
    """Import a plug-in file once, under a collision-free module name."""
    path = Path(path).resolve()
    key = str(path)
    if key in _loaded:
        return _loaded[key]
    if not path.is_file():
        raise PluginError("plug-in file not found", where=str(path), hint="check the path in --plugin / plugins:")
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    name = f"rvosbench_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError("not an importable Python file", where=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except UserError as error:  # e.g. a duplicate registration: already a clear message
        sys.modules.pop(name, None)
        raise PluginError(error.what, where=_plugin_frame(error, path), hint=error.hint) from error
    except Exception as error:
        sys.modules.pop(name, None)
        raise PluginError(f"plug-in raised {type(error).__name__}: {error}", where=_plugin_frame(error, path),
                          hint="fix the plug-in, or run with --debug for the full traceback") from error
    _loaded[key] = module
    return module


def load_plugin(spec: str) -> ModuleType:
    """Load ``spec``: a ``.py`` file path, or an importable module name."""
    if spec.endswith(".py") or "/" in spec:
        return load_plugin_file(spec)
    try:
        return importlib.import_module(spec)
    except ImportError as error:
        raise PluginError(f"cannot import plug-in module '{spec}': {error}",
                          hint="install the package or give a .py path") from error


def load_entry_points() -> list[str]:
    """Load every installed package's ``rvosbench.plugins`` entry point; returns their names."""
    names = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except UserError:
            raise
        except Exception as error:
            raise PluginError(f"installed plug-in '{entry.name}' ({entry.value}) failed to load: "
                              f"{type(error).__name__}: {error}", hint="reinstall or uninstall that package") from error
        names.append(entry.name)
    return names
