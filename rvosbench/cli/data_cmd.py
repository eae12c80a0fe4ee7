"""``rvosbench data``: fixtures, checks and previews of benchmarks (not available yet: the Benchmarks issue implements it)."""
from __future__ import annotations

import argparse

from rvosbench.core.errors import UserError


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help='fixtures, checks and previews of benchmarks')
    parser.add_argument('action', **{'help': 'fixture | check | synth'})
    parser.add_argument('rest', **{'nargs': '*'})
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise UserError('rvosbench data is not available yet', hint='it lands with the Benchmarks issue')
