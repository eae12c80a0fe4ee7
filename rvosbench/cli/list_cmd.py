"""``rvosbench list [KIND] [PATTERN]``: what is registered, one line each."""
from __future__ import annotations

import argparse

from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.core.registry import ALL_REGISTRIES
from rvosbench.engine.catalog import load_catalog


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help="list registered models, benchmarks, …",
                                   description="List registered entries; PATTERN takes shell wildcards.")
    parser.add_argument("kind", nargs="?", default="models", help=f"one of: {', '.join(ALL_REGISTRIES)}")
    parser.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'proxyformer*'")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.kind not in ALL_REGISTRIES:
        raise ConfigError(f"unknown kind '{args.kind}'", hint=did_you_mean(args.kind, ALL_REGISTRIES))
    load_catalog(args.plugin)
    import rvosbench.report  # noqa: F401  (registers the report formats; the engine's catalog does not)

    rows = ALL_REGISTRIES[args.kind].list(args.pattern)
    if not rows:
        raise ConfigError(f"no {args.kind} match '{args.pattern}'",
                          hint=did_you_mean(args.pattern, ALL_REGISTRIES[args.kind].names()))
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name:<{width}}  {description}")
    return 0
