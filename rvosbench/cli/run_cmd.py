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
from pathlib import Path

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
    parser.add_argument("--store", "--out", dest="store", default="runs",
                        help="result store folder (default: runs); --out is the older name of this option")
    parser.add_argument("--baselines", default=",".join(BASELINES), metavar="NAMES",
                        help=f"trivial baselines to score, comma-separated (default: all: {', '.join(BASELINES)}); "
                             "'none' for none")
    parser.add_argument("--no-report", action="store_true",
                        help="do not write the report at the end (rvosbench report STUDY --store DIR writes it later)")
    parser.add_argument("--nproc", type=int, default=int(os.environ.get("RVOSBENCH_NPROC", "1")), metavar="N",
                        help="processes on this machine (DDP; one per GPU, or CPU processes of one thread each); "
                             "results do not depend on it (default: $RVOSBENCH_NPROC or 1)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("RVOSBENCH_JOBS", "1")), metavar="J",
                        help="train J (variant, seed) cells at once, each in its own process with cores/J threads; "
                             "the faster choice on CPU, where --nproc pays little (default: $RVOSBENCH_JOBS or 1)")
    parser.add_argument("--eval-workers", type=int, default=int(os.environ.get("RVOSBENCH_EVAL_WORKERS", "1")),
                        metavar="N", help="processes scoring predictions, this one included: each finished video is "
                                          "scored while the next is predicted; results do not depend on it "
                                          "(default: $RVOSBENCH_EVAL_WORKERS or 1)")
    parser.add_argument("--job", action="store_true", help=argparse.SUPPRESS)  # a process of --jobs: no table
    parser.set_defaults(handler=run)


def torchrun_command(args: argparse.Namespace) -> list[str]:
    """The ``torch.distributed.run`` command line that runs these arguments on ``args.nproc`` processes."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.nproc),
               "-m", "rvosbench", "run", args.config, "--store", args.store, "--baselines", args.baselines]
    if args.overrides:
        command += ["--set", *args.overrides]
    if args.only:
        command += ["--only", args.only]
    for plugin in args.plugin:
        command += ["--plugin", plugin]
    command += ["--no-report"] * args.no_report + ["--debug"] * args.debug
    return command


def write_report(study: str, store: str) -> None:
    """The study's report next to the store (``<store>/reports/<study>``); a failing report never fails
    the run: the results are stored, and the line says how to retry."""
    retry = f"rvosbench report {study} --store {store}"
    try:
        from rvosbench.report import write_study_report

        paths = [Path(p) for p in write_study_report(study, store=store)]
    except Exception as error:  # noqa: BLE001  (a report bug must not cost the stored results)
        print(f"report: failed ({type(error).__name__}: {error}); the results are stored in {store}; "
              f"retry with: {retry}", flush=True)
        return
    pages = [str(p) for p in paths if p.suffix in (".html", ".md")]
    print(f"report: {len(paths)} files in {paths[0].parent if paths else '-'}"
          + (f" ({', '.join(pages)})" if pages else ""), flush=True)


def run(args: argparse.Namespace) -> int:
    from rvosbench.cli.jobs import die_with_parent, run_jobs
    from rvosbench.core.errors import ConfigError
    from rvosbench.core.plan import load_plan
    from rvosbench.engine.catalog import load_catalog
    from rvosbench.engine.distributed import shutdown_distributed
    from rvosbench.engine.runner import run_study
    from rvosbench.engine.scoring import start_early

    from rvosbench.core.validate import check_plan

    if args.job:
        die_with_parent()
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
    if int(os.environ.get("RANK", "0")) == 0:  # rank 0 scores (engine.evaluation)
        start_early(args.eval_workers)  # its scoring workers are ready when the first evaluation starts
    names = [] if args.baselines.strip().lower() == "none" else \
        [n.strip() for n in args.baselines.split(",") if n.strip()]
    try:
        outcome = run_study(plan, args.store, args.only, baselines=names, table=not args.job,
                            eval_workers=args.eval_workers)
    finally:
        shutdown_distributed()
    if outcome.table and not args.no_report:  # the table exists on rank 0 of the process that prints it
        write_report(plan.name, args.store)
    return 0
