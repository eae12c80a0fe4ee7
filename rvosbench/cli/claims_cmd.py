"""``rvosbench claims <store>/<study>``: the paper's claims read off a stored ablation (docs/findings.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CLAIMS = Path("reports/claims.yaml")


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        name, parents=[common], help="per claim and expression type: paired differences with CIs and tests",
        description="Read a stored study and print, for each claim of the claims file, the paired difference "
                    "per expression tag (95%% bootstrap CI over videos, Wilcoxon test) beside the reference "
                    "predictors, as Markdown.")
    parser.add_argument("study_dir", type=Path, help="the study's folder in the results store, e.g. results/synth/all")
    parser.add_argument("--claims", type=Path, default=DEFAULT_CLAIMS, help=f"claims YAML (default: {DEFAULT_CLAIMS})")
    parser.add_argument("--out", type=Path, help="also write the Markdown to this file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rvosbench.report.claims import claims_markdown, load_claims
    from rvosbench.report.store import load_study

    text = claims_markdown(load_study(args.study_dir), load_claims(args.claims))
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0
