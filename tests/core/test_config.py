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
