"""``rvosbench eval``: score predictions offline with a benchmark's official protocol (not available yet: the Metrics issue implements it)."""
from __future__ import annotations

import argparse

from rvosbench.core.errors import UserError


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help="score predictions offline with a benchmark's official protocol")
    parser.add_argument('--benchmark', **{'required': True})
    parser.add_argument('--predictions', **{'required': True})
    parser.add_argument('--name', **{})
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise UserError('rvosbench eval is not available yet', hint='it lands with the Metrics issue')
