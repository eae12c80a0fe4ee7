"""``rvosbench`` command line: one sub-command per module in this package.

Errors a user can cause arrive as :class:`~rvosbench.core.errors.UserError` and are printed as one line
``rvosbench: error: <where>: <what> (<what to do>)`` with exit status 2; ``--debug`` re-raises them
with the traceback. Anything else is a bug in rvosbench and keeps its traceback.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

import rvosbench
from rvosbench.core.errors import UserError

#: operating-system errors a user fixes (space, quota, permissions), reported like any user error
USER_OS_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
}

# sub-command name -> module in rvosbench.cli exposing ``add_parser(subparsers)`` and ``run(args)``
COMMANDS = {
    "list": "list_cmd",
    "show": "show_cmd",
    "run": "run_cmd",
    "eval": "eval_cmd",
    "report": "report_cmd",
    "leaderboard": "leaderboard_cmd",
    "data": "data_cmd",
    "bench": "bench_cmd",
    "predict": "predict_cmd",
    "claims": "claims_cmd",
    "convert": "convert_cmd",
    "export": "export_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rvosbench",
        description="Benchmark and ablation framework for referring video object segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"rvosbench {rvosbench.__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    common.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                        help="load a plug-in that registers models/benchmarks (repeatable)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"rvosbench.cli.{module_name}")
        module.add_parser(subparsers, name, common)
    return parser


def close_progress_bars() -> None:
    """End any progress bar an error interrupted, so the error starts on a line of its own."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except UserError as error:
        if args.debug:
            raise
        close_progress_bars()
        print(f"rvosbench: error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        if error.errno not in USER_OS_ERRORS or args.debug:
            raise
        close_progress_bars()
        where = f"{error.filename}: " if error.filename else ""
        print(f"rvosbench: error: {where}{USER_OS_ERRORS[error.errno]} "
              "(free space or fix permissions, then run the same command again: finished cells are kept)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rvosbench: interrupted; finished cells are kept, run the same command again to resume",
              file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
