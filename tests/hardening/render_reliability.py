"""Print the user-error table of docs/reliability.md from real runs of the hardening cases.

Usage: ``.venv/bin/python tests/hardening/render_reliability.py`` prints one Markdown row per case with
the exact line a user sees (temporary folders shown as ``<dir>``) and the test that runs it.
test_user_errors.py checks that the document lists every case and that every test it names exists.
"""
from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hardening_cases import CASES  # noqa: E402
from rvosbench.cli.main import main  # noqa: E402


def message(setup) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = str(Path(tmp).resolve())
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            argv, _ = setup(Path(tmp))
            err.truncate(0)
            status = main(argv)
        text = err.getvalue()
        line = text[text.rindex("rvosbench: error:"):].splitlines()[0]  # after any cleared progress bar
        line = line.replace(str(Path(tmp).resolve()), "<dir>").replace(tmp, "<dir>")
        escaped = line.replace("|", "\\|")
        return f"exit {status}: {escaped}"


if __name__ == "__main__":
    print("| case | issue 18 | what the user did | what they see | test |")
    print("| --- | --- | --- | --- | --- |")
    for case in CASES:
        test = f"`tests/hardening/test_user_errors.py::test_case[{case.id}]`"
        print(f"| `{case.id}` | {case.issue or '–'} | {case.title.replace('|', chr(92) + '|')} | "
              f"`{message(case.setup)}` | {test} |")
