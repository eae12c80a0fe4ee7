"""``rvosbench claims STUDY [--store DIR]``: the paper's claims read off a stored ablation (docs/findings.md)."""
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
    parser.add_argument("study", help="the study's name (e.g. all), or its folder (results/synth/studies/all)")
    parser.add_argument("--store", type=Path, help="results store folder (default: runs, or the folder's store)")
    parser.add_argument("--claims", type=Path, default=DEFAULT_CLAIMS, help=f"claims YAML (default: {DEFAULT_CLAIMS})")
    parser.add_argument("--out", type=Path, help="also write the Markdown to this file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rvosbench.report.claims import claims_markdown, load_claims
    from rvosbench.report.store import load_study

    text = claims_markdown(load_study(args.study, args.store), load_claims(args.claims))
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0
