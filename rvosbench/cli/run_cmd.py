"""``rvosbench run STUDY``: train and evaluate every cell of a study, store the results, print the table.

Also the entry point for distributed runs: ``torchrun --nproc-per-node N -m rvosbench run STUDY``.
Running the same command again skips finished cells and resumes an interrupted training.
"""
from __future__ import annotations

import argparse

from rvosbench.engine.baselines import BASELINES


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        name, parents=[common], help="train and evaluate every cell of a study",
        description="Train each (variant, seed) once, evaluate it on every benchmark, store each finished "
                    "cell and print the comparison table. Re-running skips finished cells and resumes "
                    "interrupted training.")
    parser.add_argument("config", help="study YAML, e.g. ablations/jsc.yaml")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override study keys, e.g. train.steps=20 (+key=value adds a new key)")
    parser.add_argument("--only", metavar="PATTERN",
                        help="run only cells whose variant or cell id matches (fnmatch, comma-separated)")
    parser.add_argument("--out", default="runs", help="result store folder (default: runs)")
    parser.add_argument("--baselines", default=",".join(BASELINES), metavar="NAMES",
                        help=f"trivial baselines to score, comma-separated (default: all: {', '.join(BASELINES)}); "
                             "'none' for none")
    parser.add_argument("--no-report", action="store_true",
                        help="do not write the report at the end (rvosbench report runs/<study> writes it later)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rvosbench.core.plan import load_plan
    from rvosbench.engine.catalog import load_catalog
    from rvosbench.engine.distributed import shutdown_distributed
    from rvosbench.engine.runner import run_study

    load_catalog(args.plugin)
    plan = load_plan(args.config, args.overrides)
    names = [] if args.baselines.strip().lower() == "none" else \
        [n.strip() for n in args.baselines.split(",") if n.strip()]
    try:
        run_study(plan, args.out, args.only, baselines=names, report=not args.no_report)
    finally:
        shutdown_distributed()
    return 0
