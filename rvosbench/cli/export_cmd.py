"""``rvosbench export STUDY... --store runs --out results/synth``: ship a study's results without weights."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        name, parents=[common], help="copy studies' results (no checkpoints) into another store, e.g. results/",
        description="Copy what the reports of the given studies read (cells with their per-sample records, "
                    "training configs and logs, study files and index lines; no checkpoints) into the store "
                    "--out, so that `rvosbench report/claims/leaderboard --store OUT` rebuild them offline.")
    parser.add_argument("studies", nargs="+", metavar="STUDY", help="study names in --store (e.g. jsc all)")
    parser.add_argument("--store", type=Path, default=Path("runs"), help="the store to read (default: runs)")
    parser.add_argument("--out", type=Path, required=True, help="the store to write (e.g. results/synth)")
    parser.add_argument("--overwrite", action="store_true", help="replace studies --out already holds")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rvosbench.core.store import export_studies

    counts = export_studies(args.store, args.studies, args.out, overwrite=args.overwrite)
    print(f"{args.out}: {counts['studies']} studies, {counts['cells']} cells and {counts['trainings']} training "
          f"logs copied from {args.store} (no checkpoints); rebuild with `rvosbench report STUDY --store {args.out}`")
    return 0
