"""Benchmarks: the API, the real-dataset loaders, the ``synth`` generator, transforms and clips.

Importing this package registers every loader in ``rvosbench.core.registry.BENCHMARKS``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import BENCHMARKS
from rvosbench.data.base import Benchmark, DatasetCountWarning, normalize_text
from rvosbench.data.a2d import A2DSentences
from rvosbench.data.davis import RefDAVIS17
from rvosbench.data.jhmdb import JHMDBSentences
from rvosbench.data.mevis import MeViS
from rvosbench.data.mevis_v2 import MeViSv2
from rvosbench.data.revos import ReVOS
from rvosbench.data.synth import SynthBenchmark
from rvosbench.data.ytvos import RefYouTubeVOS

# Keys a benchmarks/<name>.yaml may carry that describe it rather than configure the loader.
DESCRIPTIVE_KEYS = ("name", "protocol", "description")


def build_benchmark(config: Mapping[str, Any], where: str | None = None) -> Benchmark:
    """Build a benchmark from a ``benchmarks/<name>.yaml`` config (``type``, ``root``, ``split``, options).

    ``name`` and ``description`` are not passed on; ``protocol``, when given, overrides the benchmark's
    declared protocol on the instance (e.g. scoring Ref-DAVIS17 per expression as the MLLM line does).
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"a benchmark config must be a mapping, got {type(config).__name__}", where=where)
    kwargs = {k: v for k, v in config.items() if k not in DESCRIPTIVE_KEYS}
    benchmark = BENCHMARKS.build_from(kwargs, where=where)
    protocol = config.get("protocol")
    if protocol and protocol != benchmark.protocol:
        benchmark.protocol = str(protocol)
    return benchmark


__all__ = ["A2DSentences", "Benchmark", "DatasetCountWarning", "JHMDBSentences", "MeViS", "MeViSv2", "ReVOS",
           "RefDAVIS17", "RefYouTubeVOS", "SynthBenchmark", "build_benchmark", "normalize_text"]
