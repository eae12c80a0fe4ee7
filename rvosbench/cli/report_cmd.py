"""``rvosbench report STUDY [--store DIR]``: ablation table, breakdowns, plots and the HTML page of a stored study."""
from __future__ import annotations

import argparse
from pathlib import Path

from rvosbench.report import write_study_report


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        name, parents=[common], help="write tables, plots and the HTML page for a stored study",
        description="Read runs/<study> (cells, per-sample records, costs, training logs) and write the "
                    "ablation table (Markdown, LaTeX, CSV, HTML), breakdowns and plots. Default output: "
                    "<store>/reports/<study>/.")
    parser.add_argument("study", help="the study's name (e.g. jsc), or its folder (runs/studies/jsc)")
    parser.add_argument("--store", type=Path, help="results store folder (default: runs, or the folder's store)")
    parser.add_argument("--spec", help="report spec YAML (default: reports/ablation.yaml when present)")
    parser.add_argument("--out", type=Path, help="output folder (default: <store>/reports/<study>)")
    parser.add_argument("--formats", help="comma-separated subset of md,tex,csv,html (default: the spec's)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    files = write_study_report(args.study, args.out, args.spec, store=args.store, formats=args.formats)
    for path in files:
        print(path)
    return 0
