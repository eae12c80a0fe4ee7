"""``rvosbench run``: train and evaluate every cell of a study (not available yet: the Engine issue implements it)."""
from __future__ import annotations

import argparse

from rvosbench.core.errors import UserError


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help='train and evaluate every cell of a study')
    parser.add_argument('config', **{'help': 'study YAML, e.g. ablations/jsc.yaml'})
    parser.add_argument('--set', **{'dest': 'overrides', 'nargs': '+', 'default': [], 'metavar': 'KEY=VALUE'})
    parser.add_argument('--only', **{'metavar': 'PATTERN'})
    parser.add_argument('--out', **{'default': 'runs'})
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise UserError('rvosbench run is not available yet', hint='it lands with the Engine issue')
