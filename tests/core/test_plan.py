"""Study expansion into cells, card/benchmark resolution, and hash stability."""
from pathlib import Path

import pytest

from rvosbench.core.errors import ConfigError

from core_helpers import write_file as write
from rvosbench.core.plan import load_plan


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "models/tiny.yaml", "card: {name: tiny, input: {num_frames: 4}}\n"
          "model: {type: net, hidden: 32, loss: {jsc_weight: 1.0}}\n")
    write(tmp_path / "models/rival.yaml", "card: {name: rival}\nmodel: {type: other, queries: 5}\n")
    write(tmp_path / "benchmarks/toy.yaml", "type: toy\nroot: data/toy\nsplit: test\nprotocol: per_expression\n")
    write(tmp_path / "ablations/_base_/common.yaml", "train: {steps: 10, lr: 0.001}\nseeds: [0, 1]\n"
          "benchmarks: [toy/test, toy/val]\n")
    write(tmp_path / "ablations/study.yaml", (
        "_base_: _base_/common.yaml\n"
        "name: study\n"
        "model: {card: tiny}\n"
        "baseline: full\n"
        "variants:\n"
        "  full: {}\n"
        "  no_jsc: {model: {loss: {jsc_weight: 0}}}\n"
        "  rival: {model: {card: rival}}\n"
    ))
    return tmp_path


def test_expansion_counts_and_ids(project: Path) -> None:
    plan = load_plan(project / "ablations/study.yaml")
    assert plan.variants == ["full", "no_jsc", "rival"] and plan.seeds == [0, 1]
    assert plan.benchmarks == ["toy/test", "toy/val"]
    assert len(plan.train_cells) == 3 * 2 and len(plan.eval_cells) == 3 * 2 * 2
    assert plan.eval_cells[0].id == "full-s0--toy-test"
    assert {c.train_key for c in plan.eval_cells} == {c.key for c in plan.train_cells}


def test_cards_merge_and_a_different_card_replaces_the_model(project: Path) -> None:
    plan = load_plan(project / "ablations/study.yaml")
    models = {c.variant: c.config["model"] for c in plan.train_cells if c.seed == 0}
    assert models["full"] == {"type": "net", "hidden": 32, "loss": {"jsc_weight": 1.0}}
    assert models["no_jsc"]["loss"] == {"jsc_weight": 0}
    assert models["rival"] == {"type": "other", "queries": 5}
    cards = {c.variant: c.config["card"]["name"] for c in plan.train_cells}
    assert cards == {"full": "tiny", "no_jsc": "tiny", "rival": "rival"}


def test_benchmark_entries_resolve_split(project: Path) -> None:
    plan = load_plan(project / "ablations/study.yaml")
    bench = plan.eval_cells[1].config["benchmark"]
    assert bench == {"type": "toy", "root": "data/toy", "split": "val", "protocol": "per_expression", "name": "toy"}


def test_hashes_are_stable_and_sensitive(project: Path) -> None:
    path = project / "ablations/study.yaml"
    first = load_plan(path)
    again = load_plan(path)
    assert [c.key for c in first.eval_cells] == [c.key for c in again.eval_cells]
    changed = load_plan(path, ["variants.no_jsc.model.loss.jsc_weight=0.5"])
    before = {c.id: c.key for c in (*first.train_cells, *first.eval_cells)}
    after = {c.id: c.key for c in (*changed.train_cells, *changed.eval_cells)}
    differing = {cell_id for cell_id in before if before[cell_id] != after[cell_id]}
    assert differing and all(cell_id.startswith("no_jsc-") for cell_id in differing)
    assert len(differing) == 2 + 4  # both seeds' training cells and their four evaluation cells
    seeds = load_plan(path, ["train.steps=11"])
    assert all(c.key != before[c.id] for c in seeds.train_cells)


def test_key_order_does_not_change_hash(project: Path) -> None:
    a = write(project / "ablations/a.yaml", "_base_: study.yaml\ntrain: {lr: 0.001, steps: 10}\n")
    b = write(project / "ablations/b.yaml", "_base_: study.yaml\ntrain: {steps: 10, lr: 0.001}\n")
    assert [c.key for c in load_plan(a).eval_cells] == [c.key for c in load_plan(b).eval_cells]


def test_child_adds_one_variant(project: Path) -> None:
    child = write(project / "ablations/child.yaml", "_base_: study.yaml\nvariants:\n  wide: {model: {hidden: 64}}\n")
    plan = load_plan(child)
    assert plan.variants == ["full", "no_jsc", "rival", "wide"]


def test_only_filters_cells(project: Path) -> None:
    plan = load_plan(project / "ablations/study.yaml").filtered("no_*")
    assert {c.variant for c in plan.eval_cells} == {"no_jsc"}
    with pytest.raises(ConfigError, match="matches no cell"):
        load_plan(project / "ablations/study.yaml").filtered("nothing")


@pytest.mark.parametrize("text, message", [
    ("variants: {a: {}}\nbenchmarks: [toy/test]\nmodel: {card: tiny}\nmodle: {}\n", "unknown key 'modle'"),
    ("variants: {a: {modl: {}}}\nbenchmarks: [toy/test]\nmodel: {card: tiny}\n", "unknown key 'variants.a.modl'"),
    ("variants: {a: {}}\nbaseline: b\nbenchmarks: [toy/test]\nmodel: {card: tiny}\n", "baseline 'b' is not a variant"),
    ("benchmarks: [toy/test]\nmodel: {card: tiny}\n", "needs 'variants'"),
    ("variants: {a: {}}\nmodel: {card: tiny}\n", "needs 'benchmarks'"),
    ("variants: {a: {}}\nbenchmarks: [toy/test]\nmodel: {card: tiyn}\n", "no model named 'tiyn'"),
    ("variants: {a: {}}\nbenchmarks: [toyy/test]\nmodel: {card: tiny}\n", "no benchmark named 'toyy'"),
    ("variants: {a: {}}\nbenchmarks: [toy/test]\nmodel: {hidden: 3}\n", "has no 'type'"),
    ("variants: {a: {}}\nbenchmarks: [toy/test]\nmodel: {card: tiny}\nseeds: [a]\n", "seeds.0 must be a whole number"),
])
def test_study_errors(project: Path, text: str, message: str) -> None:
    path = write(project / "ablations/bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert message in str(info.value)
    assert "bad.yaml" in str(info.value) or "tiyn" in str(info.value) or "toyy" in str(info.value)


def test_unknown_key_error_has_line(project: Path) -> None:
    path = write(project / "ablations/bad.yaml", "variants: {a: {}}\nbenchmarks: [toy/test]\n\nmodle: {}\n")
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert "bad.yaml:4" in str(info.value) and "did you mean 'model'" in str(info.value)


def test_keys_do_not_depend_on_where_the_checkout_lies(project: Path, tmp_path_factory) -> None:
    import shutil

    moved = tmp_path_factory.mktemp("moved") / "project"
    shutil.copytree(project, moved)
    here = load_plan(project / "ablations/study.yaml")
    there = load_plan(moved / "ablations/study.yaml")
    assert here.eval_cells[0].config["card"]["file"] != there.eval_cells[0].config["card"]["file"]
    assert [c.key for c in here.eval_cells] == [c.key for c in there.eval_cells]
