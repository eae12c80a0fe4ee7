"""Config loading: _base_ inheritance, deep merge, _delete_, overrides, errors with file:line."""
from pathlib import Path

import pytest

from rvosbench.core.config import apply_overrides, diff_configs, load_config
from rvosbench.core.errors import ConfigError

from core_helpers import write_file as write


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    write(tmp_path / "_base_/runtime.yaml", "train: {steps: 100, lr: 0.001, groups: [a, b]}\nseeds: [0]\n")
    write(tmp_path / "_base_/model.yaml", "model: {type: m, depth: 2, opts: {x: 1, y: 2}}\n")
    return write(tmp_path / "study.yaml", (
        "_base_: [_base_/runtime.yaml, _base_/model.yaml]\n"
        "model:\n  depth: 3\n  opts: {_delete_: true, z: 9}\n"
        "train: {groups: [c]}\n"
    ))


def test_base_list_deep_merge_and_list_replace(chain: Path) -> None:
    data = load_config(chain).data
    assert data["model"] == {"type": "m", "depth": 3, "opts": {"z": 9}}  # _delete_ replaced the dict
    assert data["train"] == {"steps": 100, "lr": 0.001, "groups": ["c"]}  # dict merged, list replaced
    assert data["seeds"] == [0]


def test_base_as_single_string_relative_to_file(tmp_path: Path) -> None:
    write(tmp_path / "deep/base.yaml", "a: {b: 1, c: 2}\n")
    child = write(tmp_path / "deep/sub/child.yaml", "_base_: ../base.yaml\na: {c: 5}\n")
    assert load_config(child).data == {"a": {"b": 1, "c": 5}}


def test_overrides_set_existing_and_add_with_plus(chain: Path) -> None:
    data = load_config(chain).data
    out = apply_overrides(data, ["train.steps=20", "model.opts.z=[1, 2]", "+model.new_key=on", "train.groups.0=q"])
    assert out["train"]["steps"] == 20
    assert out["model"]["opts"]["z"] == [1, 2]
    assert out["model"]["new_key"] is True
    assert out["train"]["groups"] == ["q"]
    assert data["train"]["steps"] == 100  # input left untouched


def test_unknown_override_key_is_an_error_with_did_you_mean(chain: Path) -> None:
    data = load_config(chain).data
    with pytest.raises(ConfigError) as info:
        apply_overrides(data, ["train.stesp=5"])
    message = str(info.value)
    assert "unknown key 'train.stesp'" in message and "'steps'" in message and "+train.stesp" in message


@pytest.mark.parametrize("bad", ["train.steps", "=3", "train..steps=1"])
def test_malformed_override(chain: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        apply_overrides(load_config(chain).data, [bad])


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert f"{bad}:" in str(info.value) and "YAML syntax error" in str(info.value)


def test_syntax_error_in_a_base_file_is_reported_there(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", "x: {a: 1\n")
    child = write(tmp_path / "child.yaml", "_base_: base.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_config(child)
    assert str(base) in str(info.value)


def test_missing_file_and_missing_base(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    child = write(tmp_path / "child.yaml", "\n_base_: gone.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_config(child)
    assert "gone.yaml" in str(info.value) and f"{child}:2" in str(info.value)


def test_base_cycle_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_where_points_at_the_child_line_first(chain: Path) -> None:
    loaded = load_config(chain)
    assert loaded.where("model.depth").startswith(f"{chain.resolve()}:3")
    assert "runtime.yaml:1" in loaded.where("train.steps")


def test_diff_shows_changed_keys(tmp_path: Path) -> None:
    text = diff_configs({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}}, "x.yaml", "y.yaml")
    assert "-  c: 2" in text and "+  c: 3" in text
    assert diff_configs({"a": 1}, {"a": 1}) == ""


# -- content keys and overrides of studies (rvosbench.core.plan) -------------------------------------
PINNED_FILES = {
    "models/net.yaml": "card:\n  name: net\n  input: {num_frames: 3, short_side: 48, max_size: 64, mean: [0.5, 0.5, 0.5],"
                       " std: [0.5, 0.5, 0.5]}\n  checkpoint: {path: null, sha256: null}\n  published: []\n"
                       "model:\n  type: net\n  hidden_dim: 32\n  num_heads: 4\n  loss: {cls: 2.0, jsc_weight: 1.0}\n",
    "models/rival.yaml": "card: {name: rival, description: a rival}\nmodel: {type: other, queries: 5, hidden_dim: 16}\n",
    "benchmarks/toy.yaml": "type: toy\nroot: data/toy\nsplit: test\nvideos: {train: 10, test: 4}\n",
    "ablations/_base_/common.yaml": "model: {card: net}\ntrain:\n  benchmark: {name: toy, split: train, videos: {train: 12, test: 4}}\n"
                                    "  steps: 40\n  lr: 5.0e-4\n  group_lr: {backbone: 0.0, rest: 1.0}\n  checkpoint_every: 20\n"
                                    "eval: {window: 8, limit: null}\nbenchmarks: [toy/test]\nseeds: [0, 1]\n",
    "ablations/study.yaml": "_base_: _base_/common.yaml\nname: pinned\nbaseline: full\nvariants:\n  full: {}\n"
                            "  no_jsc: {model: {loss: {jsc_weight: 0.0}}}\n  long: {train: {steps: 80}, eval: {window: 16}}\n"
                            "  rival: {model: {card: rival}}\n",
}
# Computed by rvosbench at commit 87b9a8b, before the config schemas existed: checks must never change a
# key, or results already in a store (and every shipped ablation) would be trained again.
PINNED_KEYS = {
    "full-s0": "c1d5bf7ccd2de486", "full-s1": "09eb16c93d45bf67",
    "no_jsc-s0": "93514072d19cdfbb", "no_jsc-s1": "7b2d4ba8f0ffac27",
    "long-s0": "0ce3e7ba1d349f82", "long-s1": "7afeabb053105483",
    "rival-s0": "dd07cea9c18af73d", "rival-s1": "3c6825c0d9209cc5",
    "full-s0--toy-test": "14fd653d7cda9dc8", "full-s1--toy-test": "1cd2645c57b7b471",
    "no_jsc-s0--toy-test": "e0a5c72d57e5cec6", "no_jsc-s1--toy-test": "e132d73dff79a0b0",
    "long-s0--toy-test": "7efbe5b28a6a7b21", "long-s1--toy-test": "1291d2acc18fa8b4",
    "rival-s0--toy-test": "be09f156f9ccdf46", "rival-s1--toy-test": "269cea3943a58985",
}


@pytest.fixture
def pinned_study(tmp_path: Path) -> Path:
    for name, text in PINNED_FILES.items():
        write(tmp_path / name, text)
    return tmp_path / "ablations/study.yaml"


def test_content_keys_of_a_known_config_are_pinned(pinned_study: Path) -> None:
    from rvosbench.core.plan import load_plan

    plan = load_plan(pinned_study)
    assert {c.id: c.key for c in (*plan.train_cells, *plan.eval_cells)} == PINNED_KEYS


def test_set_card_takes_the_new_cards_model(pinned_study: Path) -> None:
    """``--set model.card=rival`` is the rival card's model, not the first card's keys under its name."""
    from rvosbench.core.plan import load_plan

    plan = load_plan(pinned_study, ["model.card=rival"])
    full = next(c for c in plan.train_cells if c.variant == "full")
    assert full.config["model"] == {"type": "other", "queries": 5, "hidden_dim": 16}
    assert full.config["card"]["name"] == "rival"


def test_set_may_name_keys_the_schema_or_card_defines_without_plus(pinned_study: Path) -> None:
    from rvosbench.core.plan import load_plan

    plan = load_plan(pinned_study, ["train.val_every=10", "train.val_benchmark=toy/test", "model.num_heads=8",
                                    "train.lr=1e-3"])
    train = plan.train_cells[0].config["train"]
    assert train["val_every"] == 10 and train["lr"] == 0.001  # 1e-3 is a number, as in YAML 1.2
    assert plan.train_cells[0].config["model"]["num_heads"] == 8
    with pytest.raises(ConfigError, match=r"unknown key 'train.val_evry'.*did you mean 'val_every'"):
        load_plan(pinned_study, ["train.val_evry=10"])


@pytest.mark.parametrize("override, where, message", [
    ("train.steps=ten", "--set train.steps=ten", "train.steps must be a whole number, got 'ten'"),
    ("+train.stpes=3", "--set +train.stpes=3", "unknown key 'train.stpes' (did you mean 'steps'?"),
    ("variants.long.train.steps=-5", "--set variants.long.train.steps=-5", "train.steps must be >= 0, got -5"),
    ("eval.input={short_side: 99}", "--set eval.input={short_side: 99}", "max_size 64 is smaller than short_side 99"),
    ("train.evaluate_untrained=true", "--set train.evaluate_untrained=true",
     "evaluate_untrained is set but train.steps is 40"),
])
def test_errors_name_the_set_that_caused_them(pinned_study: Path, override: str, where: str, message: str) -> None:
    from rvosbench.core.plan import load_plan

    with pytest.raises(ConfigError) as info:
        load_plan(pinned_study, [override])
    assert str(info.value).startswith(f"{where}: ") and message in str(info.value)


def test_errors_name_the_line_that_wrote_the_value(pinned_study: Path) -> None:
    """A value a variant inherits is blamed on the line that wrote it: the variant's, the base file's, or
    the card's."""
    from rvosbench.core.plan import load_plan

    study = pinned_study.read_text().replace("  long: {train: {steps: 80}", "  long: {train: {steps: eighty}")
    pinned_study.write_text(study)
    with pytest.raises(ConfigError, match=r"study\.yaml:7 \(key 'variants\.long\.train\.steps'\)"):
        load_plan(pinned_study)
    pinned_study.write_text(study.replace("steps: eighty", "steps: 80"))
    base = pinned_study.parent / "_base_/common.yaml"
    base.write_text(base.read_text().replace("checkpoint_every: 20", "checkpoint_every: 0"))
    with pytest.raises(ConfigError, match=r"common\.yaml:7 \(key 'train\.checkpoint_every'\)"):
        load_plan(pinned_study)


def test_card_values_are_blamed_on_the_card(pinned_study: Path) -> None:
    from rvosbench.core.plan import load_plan

    card = pinned_study.parents[1] / "models/net.yaml"
    card.write_text(card.read_text().replace("max_size: 64", "max_size: 32"))
    with pytest.raises(ConfigError, match=r"net\.yaml:3 \(key 'card\.input\.short_side'\): card\.input: max_size 32 is smaller"):
        load_plan(pinned_study)


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    bad = write(tmp_path / "dup.yaml", "train:\n  steps: 10\n  lr: 0.1\n  steps: 20\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml:4: duplicate key 'train\.steps' \(also on line 2\)"):
        load_config(bad)
