"""Every user-caused failure is one clear line with exit status 2 (cases in hardening_cases.py), and
docs/reliability.md lists every case with a test that exists."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from hardening_cases import CASES, REPO
from rvosbench.cli.main import main

#: what must never reach a user's terminal: Python object reprs and native libraries' warnings
NOISE = re.compile(r"object at 0x|\[ *(WARN|INFO|ERROR|DEBUG)\b|\[OPENCV:|Premature end of JPEG|@ 0x[0-9a-f]+\]|Traceback")


def run_case(setup, tmp_path: Path, capfd: pytest.CaptureFixture) -> str:
    argv, expected = setup(tmp_path)
    capfd.readouterr()
    status = main(argv)
    out, err = capfd.readouterr()  # file-descriptor level: what OpenCV or FFmpeg print is caught too
    assert status == 2, err
    errors = [line for line in err.splitlines() if "rvosbench: error:" in line]
    # Progress bars may precede it, but the error is one line of its own, and the last one.
    assert len(errors) == 1 and errors[0].startswith("rvosbench: error: "), err
    assert err.rstrip().splitlines()[-1] == errors[0]
    assert expected in errors[0], err
    assert not NOISE.search(out + err), out + err
    if argv[0] == "run":  # refused before any work: the result store was never created
        assert not Path(argv[argv.index("--out") + 1]).exists()
    return errors[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    run_case(case.setup, tmp_path, capfd)


def test_zip_members_are_never_written_outside(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    from hardening_cases import zip_absolute_path

    run_case(zip_absolute_path, tmp_path, capfd)
    assert not Path("/tmp/rvosbench_escape.png").exists()
    assert not (tmp_path / "scores").exists()  # refused before anything was scored or written


def test_reliability_doc_lists_every_case() -> None:
    doc = (REPO / "docs/reliability.md").read_text()
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \|", doc, re.M))
    assert {case.id for case in CASES} <= listed


def test_every_test_the_reliability_doc_names_exists() -> None:
    """Each row's test column (``tests/<file>.py::<test>``, parameters in brackets) names a real test."""
    doc = (REPO / "docs/reliability.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)(?:\[([^\]`]+)\])?`", doc)
    assert len(named) >= 40
    ids = {case.id for case in CASES}
    for path, function, parameter in named:
        source = (REPO / path).read_text()
        assert re.search(rf"^\s*def {function}\(", source, re.M), f"{path}::{function} is not a test"
        if function == "test_case" and path.endswith("test_user_errors.py"):
            assert parameter in ids, parameter


def test_native_libraries_print_nothing(tmp_path: Path) -> None:
    """OpenCV and its FFmpeg write to the process's stderr directly; run the real command to see all of it.

    A text file given as a video made FFmpeg print ``[mov,mp4,... @ 0x...] moov atom not found`` before
    the error line; only the error line is left.
    """
    import os
    import subprocess
    import sys

    from hardening_cases import video_not_a_video

    argv, expected = video_not_a_video(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    done = subprocess.run([sys.executable, "-m", "rvosbench", *argv], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    lines = (done.stdout + done.stderr).strip().splitlines()  # OpenCV's FFmpeg logs to stdout
    assert done.returncode == 2 and len(lines) == 1 and expected in lines[0], done.stdout + done.stderr
