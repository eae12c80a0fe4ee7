"""``rvosbench run STUDY``: train and evaluate every cell of a study, store the results, print the table.

Also the entry point for distributed runs: ``torchrun --nproc-per-node N -m rvosbench run STUDY``, or
``rvosbench run STUDY --nproc N``, which launches that torchrun command itself (single machine).
``--jobs J`` instead runs J cells side by side in separate processes (rvosbench.cli.jobs).
Running the same command again skips finished cells and resumes an interrupted training.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

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
    parser.add_argument("--nproc", type=int, default=int(os.environ.get("RVOSBENCH_NPROC", "1")), metavar="N",
                        help="processes on this machine (DDP; one per GPU, or CPU processes of one thread each); "
                             "results do not depend on it (default: $RVOSBENCH_NPROC or 1)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("RVOSBENCH_JOBS", "1")), metavar="J",
                        help="train J (variant, seed) cells at once, each in its own process with cores/J threads; "
                             "the faster choice on CPU, where --nproc pays little (default: $RVOSBENCH_JOBS or 1)")
    parser.add_argument("--job", action="store_true", help=argparse.SUPPRESS)  # a process of --jobs: no table
    parser.set_defaults(handler=run)


def torchrun_command(args: argparse.Namespace) -> list[str]:
    """The ``torch.distributed.run`` command line that runs these arguments on ``args.nproc`` processes."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.nproc),
               "-m", "rvosbench", "run", args.config, "--out", args.out, "--baselines", args.baselines]
    if args.overrides:
        command += ["--set", *args.overrides]
    if args.only:
        command += ["--only", args.only]
    for plugin in args.plugin:
        command += ["--plugin", plugin]
    command += ["--no-report"] * args.no_report + ["--debug"] * args.debug
    return command


def run(args: argparse.Namespace) -> int:
    from rvosbench.cli.jobs import run_jobs
    from rvosbench.core.errors import ConfigError
    from rvosbench.core.plan import load_plan
    from rvosbench.engine.catalog import load_catalog
    from rvosbench.engine.distributed import shutdown_distributed
    from rvosbench.engine.runner import run_study

    from rvosbench.core.validate import check_plan

    load_catalog(args.plugin)
    plan = load_plan(args.config, args.overrides)  # a config error stops here, before any process starts
    load_catalog(plan.plugins)
    check_plan(plan)  # models and benchmarks against their classes' schemas, before any work
    if args.jobs > 1 and "WORLD_SIZE" not in os.environ:
        if args.nproc > 1:
            raise ConfigError("--jobs and --nproc cannot be combined", where="rvosbench run",
                              hint="--jobs J runs J cells side by side (CPU); --nproc N trains each cell on N processes")
        failed = run_jobs(args, plan)
        if failed:
            return failed
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        # one thread per process unless the user chose otherwise (torchrun would say the same)
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "RVOSBENCH_NPROC": "1"}
        return subprocess.run(torchrun_command(args), env=env).returncode
    names = [] if args.baselines.strip().lower() == "none" else \
        [n.strip() for n in args.baselines.split(",") if n.strip()]
    try:
        run_study(plan, args.out, args.only, baselines=names, report=not args.no_report, table=not args.job)
    finally:
        shutdown_distributed()
    return 0
