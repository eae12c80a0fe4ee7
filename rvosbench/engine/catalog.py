"""Fill the registries: built-in parts, installed plug-ins, and user plug-in files.

Registration happens by importing the sub-packages, which is why only this module (and the CLI above
it) imports data, metrics and models together: core never imports them. The report formats register
when the CLI imports :mod:`rvosbench.report` (the engine never does).
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable

from rvosbench.core.plugins import load_entry_points, load_plugin

BUILTIN_PACKAGES = ("rvosbench.data", "rvosbench.metrics", "rvosbench.models")
_builtins_loaded = False


def load_catalog(plugins: Iterable[str] = (), entry_points: bool = True) -> None:
    """Import built-ins once, then installed entry points, then the given plug-in files/modules."""
    global _builtins_loaded
    if not _builtins_loaded:
        for package in BUILTIN_PACKAGES:
            importlib.import_module(package)
        if entry_points:
            load_entry_points()
        _builtins_loaded = True
    for spec in plugins:
        load_plugin(spec)
