"""``rvosbench run STUDY --jobs J``: train and evaluate J cells at once, each in its own process.

Why: on a CPU machine the default study's model is too small for data-parallel training to pay
well (two DDP processes of one thread train one cell 1.3× faster than one process), while two
independent trainings on two cores take about the time of one (docs/engine.md). A study always has
several (variant, seed) trainings, so running them side by side is the cheaper way to use the cores.

How: the selected trainings are dealt round-robin into J groups; each group is one ordinary
``rvosbench run STUDY --only <its cells>`` process with ``cores / J`` threads, no baselines and no
report. The result store's locks keep the processes out of each other's way. When all have finished,
the calling process runs the study itself: every cell is then found stored, so it only scores the
baselines, prints the table and writes the report. A cell trained this way is the cell a one-process
run trains (same key, same random stream); only the wall time differs.

The jobs die with the calling process: each job asks the kernel for SIGTERM when its parent dies
(Linux ``PR_SET_PDEATHSIG``) and, where that is unavailable, watches its parent's pid. Killing the
caller (even with ``kill -9``) stops every job; their finished cells are stored and their trainings
resume from the last checkpoint on the next run.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from rvosbench.core.plan import Plan
from rvosbench.engine.distributed import BAR_POSITION_ENV

PARENT_ENV = "RVOSBENCH_JOBS_PARENT"  # the pid of the process that started a job
PR_SET_PDEATHSIG = 1


def literal_pattern(text: str) -> str:
    """An ``--only`` (fnmatch) pattern that matches ``text`` and nothing else."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)


def job_groups(plan: Plan, only: str | None, jobs: int) -> list[list[str]]:
    """The selected work as at most ``jobs`` lists of cell ids, a training always with its evaluations."""
    selected = plan.filtered(only)
    needed = {c.train_key for c in selected.eval_cells} | {c.key for c in selected.train_cells}
    trainings = [c for c in plan.train_cells if c.key in needed]
    groups: list[list[str]] = [[] for _ in range(max(1, min(jobs, len(trainings))))]
    for number, cell in enumerate(trainings):
        evaluations = [c.id for c in selected.eval_cells if c.train_key == cell.key]
        groups[number % len(groups)].extend([cell.id, *evaluations])
    return [group for group in groups if group]


def job_command(args: argparse.Namespace, cells: Sequence[str]) -> list[str]:
    """One job's command line: the same study and overrides, restricted to ``cells``."""
    command = [sys.executable, "-m", "rvosbench", "run", args.config, "--store", args.store, "--baselines", "none",
               "--no-report", "--job", "--only", ",".join(literal_pattern(c) for c in cells),
               "--eval-workers", str(args.eval_workers)]
    if args.overrides:
        command += ["--set", *args.overrides]
    for plugin in args.plugin:
        command += ["--plugin", plugin]
    return command + ["--debug"] * args.debug


def job_environment(position: int, threads: str, gpus: int) -> dict[str, str]:
    """The environment of job ``position``: its thread count, its progress-bar line and, on a machine
    with several GPUs (unless the user set ``CUDA_VISIBLE_DEVICES``), a GPU of its own, round-robin."""
    env = {**os.environ, "OMP_NUM_THREADS": threads, "RVOSBENCH_JOBS": "1", "RVOSBENCH_NPROC": "1",
           BAR_POSITION_ENV: str(position), PARENT_ENV: str(os.getpid())}
    if gpus > 1 and "CUDA_VISIBLE_DEVICES" not in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = str(position % gpus)
    return env


def die_with_parent() -> None:
    """In a job: stop (SIGTERM) as soon as the process that started it is gone."""
    parent = int(os.environ.get(PARENT_ENV) or 0)
    if not parent:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux: watch the parent's pid instead
        armed = False
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def run_jobs(args: argparse.Namespace, plan: Plan) -> int:
    """Run the selected cells in parallel processes; 0 when all finished (or there is only one
    training, left to the caller), else the first failure's status.

    Cells a job finished stay stored when another job fails, so running the same command again
    continues from there.
    """
    groups = job_groups(plan, args.only, args.jobs)
    if len(groups) < 2:  # one training: nothing to run side by side, the calling process does it
        return 0
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // len(groups)))
    print(f"[jobs] {len(groups)} processes of {threads} thread(s): "
          + "; ".join(", ".join(g) for g in groups), flush=True)
    import torch  # only now: a config error above is reported without loading it

    from rvosbench.engine.session import format_seconds

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    started = time.perf_counter()
    processes = [subprocess.Popen(job_command(args, cells), env=job_environment(position, threads, gpus))
                 for position, cells in enumerate(groups)]
    try:
        codes = [process.wait() for process in processes]
    except KeyboardInterrupt:  # the jobs got the same Ctrl-C; let them save and stop
        for process in processes:
            process.wait()
        raise
    failed = [code for code in codes if code != 0]
    print(f"[jobs] finished in {format_seconds(time.perf_counter() - started)}"
          + (f"; {len(failed)} failed" if failed else ""), flush=True)
    return failed[0] if failed else 0
