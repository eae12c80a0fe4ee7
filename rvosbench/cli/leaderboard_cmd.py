"""``rvosbench leaderboard``: best stored result per model per benchmark (not available yet: the Reports issue implements it)."""
from __future__ import annotations

import argparse

from rvosbench.core.errors import UserError


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help='best stored result per model per benchmark')
    parser.add_argument('--benchmark', **{})
    parser.add_argument('--spec', **{})
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise UserError('rvosbench leaderboard is not available yet', hint='it lands with the Reports issue')
