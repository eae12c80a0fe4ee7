"""``rvosbench report``: write tables, plots and the HTML page for a stored study (not available yet: the Reports issue implements it)."""
from __future__ import annotations

import argparse

from rvosbench.core.errors import UserError


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help='write tables, plots and the HTML page for a stored study')
    parser.add_argument('study_dir', **{})
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise UserError('rvosbench report is not available yet', hint='it lands with the Reports issue')
