"""``rvosbench report runs/<study>``: ablation table, breakdowns, plots and the HTML page of a stored study."""
from __future__ import annotations

import argparse
from pathlib import Path

from rvosbench.report import write_study_report


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        name, parents=[common], help="write tables, plots and the HTML page for a stored study",
        description="Read runs/<study> (cells, per-sample records, costs, training logs) and write the "
                    "ablation table (Markdown, LaTeX, CSV, HTML), breakdowns and plots. Default output: "
                    "reports/out/<study>/.")
    parser.add_argument("study_dir", type=Path, help="the study's folder in the results store, e.g. runs/jsc")
    parser.add_argument("--spec", help="report spec YAML (default: reports/ablation.yaml when present)")
    parser.add_argument("--out", type=Path, help="output folder (default: reports/out/<study>)")
    parser.add_argument("--formats", help="comma-separated subset of md,tex,csv,html (default: the spec's)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    files = write_study_report(args.study_dir, args.out, args.spec, formats=args.formats)
    for path in files:
        print(path)
    return 0
