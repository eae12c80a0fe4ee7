"""``rvosbench leaderboard``: best stored result per (model, variant) per benchmark, next to the paper's."""
from __future__ import annotations

import argparse
from pathlib import Path

from rvosbench.report import write_leaderboard
from rvosbench.report.formats import markdown_table


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        name, parents=[common], help="best stored result per model per benchmark",
        description="Rank every run in the results store per benchmark, with the numbers published for "
                    "each model (from its card) and the difference. Prints the tables and writes them "
                    "(Markdown, LaTeX, CSV, HTML page) to <store>/reports/leaderboard/.")
    parser.add_argument("--benchmark", help="only this benchmark (name, name/split or wildcard)")
    parser.add_argument("--spec", help="leaderboard spec YAML (default: reports/leaderboard.yaml when present)")
    parser.add_argument("--store", type=Path, default=Path("runs"), help="results store folder (default: runs)")
    parser.add_argument("--out", type=Path, help="output folder (default: <store>/reports/leaderboard)")
    parser.add_argument("--formats", help="comma-separated subset of md,tex,csv,html (default: the spec's)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    document, files = write_leaderboard(args.store, args.out, args.spec, benchmark=args.benchmark,
                                        formats=args.formats)
    for table in document.tables:
        print(f"\n{table.title}\n\n{markdown_table(table)}")
    print("\nwritten: " + ", ".join(str(p) for p in files))
    return 0
