"""The ``train:`` and ``eval:`` sections of a study, as the engine reads them.

Their schemas (keys, types, ranges, defaults) are defined once, in :mod:`rvosbench.core.schema`, where
the plan checks every cell before any work starts; the engine builds the same typed settings from a
cell's config.
"""
from __future__ import annotations

from rvosbench.core.schema import EvalSettings, TrainSettings

__all__ = ["EvalSettings", "TrainSettings"]
