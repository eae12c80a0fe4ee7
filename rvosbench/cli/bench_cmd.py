"""``rvosbench bench WHAT ...``: slow measurements, each owned by its package.

``bench metrics`` (J/F speed vs the official toolkit), ``bench scoring`` (``rvosbench eval`` with 1 vs N
worker processes), ``bench data`` (frame decoding), ``bench model`` (params, FLOPs, latency, memory of a
card), ``bench attention`` (coupled vs decoupled cost over T) and ``bench variants`` (what each ProxyFormer
variant changes: parameters, FLOPs, paths).
Each target is a module exposing ``main(argv) -> int``; this command only dispatches, so the packages
stay independent.
"""
from __future__ import annotations

import argparse
import importlib

from rvosbench.core.errors import ConfigError, did_you_mean

TARGETS = {
    "metrics": "rvosbench.metrics.speed",
    "scoring": "rvosbench.engine.scoring_speed",
    "data": "rvosbench.data.speed",
    "model": "rvosbench.models.speed",
    "attention": "rvosbench.models.speed_attention",
    "variants": "rvosbench.models.variant_table",
}


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help="speed and cost measurements",
                                   description=f"Targets: {', '.join(TARGETS)}. Extra arguments go to the target.")
    parser.add_argument("what", help=" | ".join(TARGETS))
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the target (see bench WHAT --help)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.what not in TARGETS:
        raise ConfigError(f"unknown bench target '{args.what}'", hint=did_you_mean(args.what, TARGETS))
    module = importlib.import_module(TARGETS[args.what])
    return int(module.main(args.rest) or 0)
