"""Leaderboard: best study per (model, variant), paper numbers from cards, external rows, filters."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from rvosbench.core.errors import ConfigError
from rvosbench.report.leaderboard import published_entries, write_leaderboard


@pytest.fixture(scope="module")
def board(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("board")
    document, files = write_leaderboard(store, out, {})
    return document, files, pd.read_csv(out / "leaderboard_synth-test.csv")


def test_every_stored_model_is_ranked_once_per_variant(board):
    _, _, frame = board
    jf = frame[frame["metric"] == "J&F"].set_index(["model", "variant"])
    assert sorted(jf.index) == sorted([("external", "my_method"), ("proxyformer_tiny", "proxyformer"),
                                       ("proxyformer_tiny", "no_jsc"), ("proxyformer_tiny", "half_proxies"),
                                       ("referformer_toy", "referformer")])
    assert list(frame[frame["metric"] == "J&F"].sort_values("rank")["reproduced"]) == \
        sorted(jf["reproduced"], reverse=True)
    # seeds of a study are averaged (0.60 and 0.64), then compared with the card's 61.0 %
    rival = jf.loc[("referformer_toy", "referformer")]
    assert rival["reproduced"] == pytest.approx(0.62)
    assert rival["published"] == pytest.approx(0.61) and rival["delta"] == pytest.approx(0.01)
    assert rival["published_source"] == "made-up paper, Tab. 1"
    assert jf.loc[("external", "my_method"), "source"] == "external"


def test_unreproduced_published_numbers_are_listed(board):
    document, _, _ = board
    extra = [t for t in document.tables if t.name == "leaderboard_unreproduced"][0]
    assert extra.data[["model", "benchmark", "value"]].values.tolist() == [["referformer_toy", "ref_davis17/valid", 0.585]]


def test_all_formats_written(board):
    _, files, _ = board
    assert {p.suffix for p in files} == {".md", ".tex", ".csv", ".html", ".png"}


def test_filters(store, tmp_path):
    document, _ = write_leaderboard(store, tmp_path, {"external": False, "models": ["proxyformer*"]},
                                    benchmark="synth", formats="csv")
    table = document.tables[0]
    assert set(table.data["model"]) == {"proxyformer_tiny"}
    with pytest.raises(ConfigError, match="--benchmark: no benchmark matches"):
        write_leaderboard(store, tmp_path, {}, benchmark="mevis")


def test_published_shapes_and_card_file(tmp_path):
    listed = published_entries({"published": [
        {"benchmark": "a2d_sentences", "split": "test", "metrics": {"mAP": 55.0, "oIoU": 78.6}, "source": "S"},
        {"benchmark": "ref_davis17/valid", "metric": "J&F", "value": "n/a", "source": "not available"}]})
    assert [(e["benchmark"], e["metric"], e["value"]) for e in listed] == [
        ("a2d_sentences/test", "mAP", pytest.approx(0.55)), ("a2d_sentences/test", "oIoU", pytest.approx(0.786))]
    mapping = published_entries({"published": {"ref_davis17": {"J&F": 0.611, "source": "docs"}}})
    assert mapping == [{"benchmark": "ref_davis17", "metric": "J&F", "value": 0.611, "source": "docs", "note": ""}]
    card = tmp_path / "rival.yaml"
    card.write_text(yaml.safe_dump({"card": {"published": [{"benchmark": "mevis/valid_u", "metric": "J&F",
                                                            "value": 37.2, "source": "MeViS README"}]},
                                    "model": {"type": "x"}}))
    assert published_entries({"file": str(card)})[0]["value"] == pytest.approx(0.372)
