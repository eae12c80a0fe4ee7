"""Each format is written and parses back; plots are real PNGs; the page is self-contained."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from PIL import Image

from rvosbench.report.formats import latex_escape
from rvosbench.report.store import load_study

PLOTS = ["toy_bars_synth-test.png", "toy_paired_synth-test.png", "toy_types_synth-test.png", "toy_pareto.png", "toy_training.png",
         "toy_scaling.png"]


def test_csv_reads_back_with_the_table_numbers(report_dir):
    frame = pd.read_csv(report_dir / "toy_ablation.csv")
    assert {"variant", "benchmark", "metric", "mean", "std", "delta", "ci_low", "ci_high", "p_value",
            "significant", "cost_params"} <= set(frame.columns)
    assert len(frame) == 9
    row = frame[(frame["variant"] == "no_jsc") & (frame["metric"] == "J&F")].iloc[0]
    assert row["delta"] < -0.05 and bool(row["significant"])
    for name in ("toy_by_tag.csv", "toy_by_length.csv"):
        assert not pd.read_csv(report_dir / name).empty


def _balanced(text: str) -> None:
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{([^}]*)\}", text):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} closes the wrong environment"
    assert not stack, f"unclosed environments: {stack}"
    depth = 0
    for char in re.sub(r"\\[{}]", "", text):  # escaped braces are text
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0


def test_latex_is_structurally_sound(report_dir):
    for name in ("toy_ablation.tex", "toy_by_tag.tex", "toy_by_length.tex"):
        text = (report_dir / name).read_text()
        _balanced(text)
        assert "\\toprule" in text and "\\midrule" in text and "\\bottomrule" in text
        spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", text).group(1)
        body = text.split("\\midrule\n")[1].split("\\bottomrule")[0]
        for line in body.strip().splitlines():  # every row has one cell per column
            assert line.endswith("\\\\") and line.count(" & ") == len(spec) - 1
    text = (report_dir / "toy_ablation.tex").read_text()
    assert "J\\&F" in text and "$\\pm$" in text and "$^{\\dagger}$" in text and "\\textbf{" in text
    assert "no\\_jsc" in text


def test_latex_escape_covers_specials():
    assert latex_escape("a_b & 50% #1 {x} $ ~ ^ \\") == \
        "a\\_b \\& 50\\% \\#1 \\{x\\} \\$ \\textasciitilde{} \\textasciicircum{} \\textbackslash{}"


def test_markdown_tables_are_rectangular(report_dir):
    text = (report_dir / "toy.md").read_text()
    tables = re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.M)
    assert len(tables) == 4  # ablation, trivial baselines, by tag, by length
    for table in tables:
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in table.strip().splitlines()}
        assert len(widths) == 1
    assert "**" in text and "†" in text and "![toy_bars_synth-test](toy_bars_synth-test.png)" in text


@pytest.mark.parametrize("name", PLOTS)
def test_plots_are_real_images(report_dir, name):
    with Image.open(report_dir / name) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 200
        extrema = image.convert("L").getextrema()
        assert extrema[1] - extrema[0] > 100  # not blank


def test_strips_show_one_row_per_variant(report_dir):
    strips = sorted(report_dir.glob("toy_strip_*.png"))
    assert [p.name for p in strips] == ["toy_strip_chosen_v00-0.png", "toy_strip_worst_v03-1.png"]
    with Image.open(strips[0]) as image:  # 3 variant rows of 4 frames: taller than a single row
        assert image.height > 0.5 * image.width


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.urls = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def test_html_page_is_self_contained(report_dir):
    text = (report_dir / "toy.html").read_text()
    parser = _Collector()
    parser.feed(text)
    assert parser.tags.count("table") >= 3 and parser.tags.count("details") == 6
    assert all(u.startswith(("data:image/png;base64,", "#")) for u in parser.urls), parser.urls
    assert sum(u.startswith("data:image/png") for u in parser.urls) == len(PLOTS) + 2
    assert 'id="toy_ablation"' in text and "rvosbenchSort" in text


def test_missing_optional_data_means_no_plot(tmp_path):
    from conftest import write_values_study
    from rvosbench.report import write_study_report

    study = write_values_study(tmp_path, {"a": [0.5, 0.6, 0.7], "b": [0.4, 0.6, 0.8]})
    files = write_study_report(study, tmp_path / "out", {"formats": ["md"]})
    names = sorted(p.name for p in files)
    assert names == ["known.md", "known_bars_synth-test.png", "known_paired_synth-test.png"]
    assert load_study(study).cost is None
