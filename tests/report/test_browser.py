"""The HTML page in a real headless Chromium: no console errors, sorting works, a screenshot is taken.

Chromium comes from Debian's ``chromium`` package; the session fixture installs it with apt-get when it
is missing (minutes, once) and skips these tests with the reason only when that is impossible.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=5000"]


def _find() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    found = _find()
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("Chromium is not installed and cannot be installed here (needs root and apt-get): "
                    "apt-get install -y chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, timeout=600, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, capture_output=True,
                       timeout=1200, env=env)
    except (subprocess.SubprocessError, OSError) as error:
        pytest.skip(f"Chromium could not be installed with apt-get install -y chromium: {error}")
    found = _find()
    if not found:
        pytest.skip("apt-get install chromium finished but no chromium binary is on PATH")
    return found


def browse(chromium: str, page: Path, tmp_path: Path, query: str = "", *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra,
               f"{page.resolve().as_uri()}{query}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def console_messages(stderr: str) -> list[str]:
    return re.findall(r':CONSOLE[^\]]*\] "(.*)", source:', stderr)


class _Rows(HTMLParser):
    """Rows of one table id: each row's (data-value or text) per cell."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None
        self.attrs: dict = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == self.table_id:
            self.inside, self.attrs = True, attrs
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self.cell = [attrs.get("data-value"), ""]

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None
        elif tag == "table":
            self.inside = False


def table_rows(dom: str, table_id: str) -> tuple[list, dict]:
    parser = _Rows(table_id)
    parser.feed(dom)
    return [r for r in parser.rows if r], parser.attrs


def test_page_loads_without_console_errors(chromium, report_dir, tmp_path):
    result = browse(chromium, report_dir / "toy.html", tmp_path, "", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_messages(result.stderr) == ["rvosbench-page-ready"]  # the script ran; nothing else logged
    assert re.search(r'<html[^>]*data-errors="0"', result.stdout) and 'data-ready="1"' in result.stdout


def test_sorting_by_url_hook_and_by_clicks(chromium, report_dir, tmp_path):
    page = report_dir / "toy.html"
    result = browse(chromium, page, tmp_path, "?sort=toy_ablation:1:asc", "--dump-dom")
    rows, attrs = table_rows(result.stdout, "toy_ablation")
    values = [float(r[1][0]) for r in rows]
    assert attrs.get("data-sorted") == "1:asc" and values == sorted(values) and len(values) == 3
    assert rows[0][0][1].strip() == "no_jsc"  # the weakest variant first
    # one click on a numeric header sorts descending, a second one ascending
    for clicks, reverse in ((1, True), (2, False)):
        result = browse(chromium, page, tmp_path, f"?click=toy_ablation:3:{clicks}", "--dump-dom")
        rows, attrs = table_rows(result.stdout, "toy_ablation")
        deltas = [float(r[3][0]) for r in rows]
        assert deltas == sorted(deltas, reverse=reverse), (clicks, deltas)
        assert attrs.get("data-sorted") == f"3:{'desc' if reverse else 'asc'}"
        assert console_messages(result.stderr) == ["rvosbench-page-ready"]


def test_screenshot_shows_the_page(chromium, report_dir, tmp_path):
    shot = tmp_path / "page.png"
    result = browse(chromium, report_dir / "toy.html", tmp_path, "?sort=toy_ablation:1:desc",
                    f"--screenshot={shot}", "--window-size=1400,1100")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1400, 1100)
        assert len(image.convert("L").getcolors(1 << 16) or []) > 50  # text, tables and a plot, not blank
    target = os.environ.get("RVOSBENCH_SCREENSHOT")
    if target:  # keep it for a person to look at
        shutil.copy(shot, target)
