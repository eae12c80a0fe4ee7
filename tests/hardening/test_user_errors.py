"""Every user-caused failure is one clear line with exit status 2 (cases in hardening_cases.py)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from hardening_cases import CASES, REPO
from rvosbench.cli.main import main


def run_case(setup, tmp_path: Path, capsys: pytest.CaptureFixture) -> str:
    argv, expected = setup(tmp_path)
    capsys.readouterr()
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    errors = [line for line in err.splitlines() if "rvosbench: error:" in line]
    # Progress bars may precede it, but the error is one line of its own, and the last one.
    assert len(errors) == 1 and errors[0].startswith("rvosbench: error: "), err
    assert err.rstrip().splitlines()[-1] == errors[0]
    assert "Traceback" not in err and expected in errors[0], err
    return errors[0]


@pytest.mark.parametrize("case_id, title, setup", CASES, ids=[c[0] for c in CASES])
def test_case(case_id: str, title: str, setup, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_case(setup, tmp_path, capsys)


def test_zip_members_are_never_written_outside(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from hardening_cases import zip_absolute_path

    run_case(zip_absolute_path, tmp_path, capsys)
    assert not Path("/tmp/rvosbench_escape.png").exists()
    assert not (tmp_path / "scores").exists()  # refused before anything was scored or written


def test_reliability_doc_lists_every_case() -> None:
    doc = (REPO / "docs/reliability.md").read_text()
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \|", doc, re.M))
    assert {case_id for case_id, _, _ in CASES} <= listed
