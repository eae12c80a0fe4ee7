"""``rvosbench predict``: segment your own video with a trained model (not available yet: the Engine issue implements it)."""
from __future__ import annotations

import argparse

from rvosbench.core.errors import UserError


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help='segment your own video with a trained model')
    parser.add_argument('card', **{})
    parser.add_argument('--checkpoint', **{})
    parser.add_argument('--video', **{})
    parser.add_argument('--text', **{})
    parser.add_argument('--out', **{})
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise UserError('rvosbench predict is not available yet', hint='it lands with the Engine issue')
