"""``rvosbench bench``: speed and cost measurements (not available yet: the Metrics/Models issue implements it)."""
from __future__ import annotations

import argparse

from rvosbench.core.errors import UserError


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help='speed and cost measurements')
    parser.add_argument('what', **{'help': 'metrics | model | data'})
    parser.add_argument('rest', **{'nargs': '*'})
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise UserError('rvosbench bench is not available yet', hint='it lands with the Metrics/Models issue')
