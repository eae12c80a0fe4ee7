"""Plots are honest: score and cost axes start at zero, and a variant has one colour in every plot."""
from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
import pytest

from rvosbench.report import leaderboard, plots
from rvosbench.report.ablation import ablation_stats, cost_frame, type_breakdown
from rvosbench.report.palette import Palette
from rvosbench.report.spec import load_spec
from rvosbench.report.store import load_study


@pytest.fixture(scope="module")
def figures(study_dir, tmp_path_factory):
    """Every plot of the toy study, kept open: ``{plot name: figure}``."""
    drawn = {}

    def keep(fig, path: Path) -> Path:
        drawn[path.stem.split("_")[1]] = fig
        return path

    study = load_study(study_dir)
    stats = ablation_stats(study, load_spec({}, "ablation"))
    out = tmp_path_factory.mktemp("plots")
    patch = pytest.MonkeyPatch()
    patch.setattr(plots, "save", keep)
    try:
        plots.bars(study, stats, out)
        plots.paired(study, stats, study.baseline, out)
        plots.pareto(study, stats, cost_frame(study), out)
        plots.curves(study, out)
        plots.scaling(study, out)
        plots.types(study, type_breakdown(study, stats), out)
    finally:
        patch.undo()
    return drawn


def test_score_and_cost_axes_start_at_zero(figures):
    assert set(figures) == {"bars", "paired", "pareto", "training", "scaling", "types"}
    for name, fig in figures.items():
        for ax in fig.axes:
            if ax.get_yscale() == "linear":
                assert ax.get_ylim()[0] == 0, f"{name}: y axis starts at {ax.get_ylim()[0]}"
            if name in ("pareto", "paired"):
                assert ax.get_xlim()[0] == 0, f"{name}: x axis starts at {ax.get_xlim()[0]}"
            if ax.get_yscale() == "log":
                assert "log scale" in ax.get_ylabel()


def _colours(fig) -> dict[str, str]:
    """Legend label -> colour of its handle."""
    found = {}
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            colour = handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()
            if not isinstance(colour, str) and len(colour) and not isinstance(colour[0], float):
                colour = colour[0]  # a collection's first colour
            found[text.get_text()] = mcolors.to_hex(colour)
    return found


def test_a_variant_has_one_colour_in_every_plot(figures):
    expected = {v: mcolors.to_hex(c) for v, c in Palette(["proxyformer", "no_jsc", "half_proxies"])._colours.items()}
    for name in ("bars", "pareto", "training", "scaling", "types"):
        colours = _colours(figures[name])
        for variant, colour in expected.items():
            assert colours.get(variant) == colour, f"{name}: {variant} is {colours.get(variant)}, not {colour}"
    assert len(set(expected.values())) == 3


def test_palette_is_stable_and_never_shares_a_colour():
    assert Palette(["a", "proxyformer"])["proxyformer"] == Palette(["proxyformer"])["proxyformer"] or \
        Palette(["a"])["a"] == Palette(["proxyformer"])["proxyformer"]  # moved only on a clash
    palette = Palette(f"m{i}" for i in range(7))
    assert len({palette[f"m{i}"] for i in range(7)}) == 7


def test_leaderboard_bars_use_the_model_colours(store, tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(leaderboard, "save", lambda fig, path: drawn.append(fig) or path)
    leaderboard.write_leaderboard(store, tmp_path, {}, formats="csv")
    ax = drawn[0].axes[0]
    assert ax.get_xlim()[0] == 0
    bars = [mcolors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert len(bars) == 5 and len(set(bars)) == 3  # proxyformer_tiny (3 variants), referformer_toy, external
