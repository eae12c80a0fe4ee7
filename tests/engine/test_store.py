"""Result store and atomic writes: torn lines, staged folders, keys, concurrent writers."""
from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from rvosbench.core.atomic import append_line, atomic_write_text, clean_staging, staged_dir
from rvosbench.core.store import ResultStore, read_jsonl, store_key, train_store_key


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "x.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["x.txt"]  # no temporary left


def test_append_line_cuts_a_torn_fragment(tmp_path: Path) -> None:
    path = tmp_path / "index.jsonl"
    append_line(path, json.dumps({"key": "a"}))
    with open(path, "a") as handle:  # a writer killed mid-line
        handle.write('{"key": "b", "metr')
    with pytest.warns(UserWarning, match="unreadable line"):
        assert [r["key"] for r in read_jsonl(path)] == ["a"]
    append_line(path, json.dumps({"key": "c"}))
    assert path.read_text().splitlines() == ['{"key": "a"}', '{"key": "c"}']


def test_staged_dir_is_all_or_nothing(tmp_path: Path) -> None:
    final = tmp_path / "cell"
    with staged_dir(final) as staging:
        (staging / "summary.json").write_text("{}")
    with pytest.raises(RuntimeError):
        with staged_dir(final) as staging:
            (staging / "summary.json").write_text('{"new": 1}')
            raise RuntimeError("killed")
    assert (final / "summary.json").read_text() == "{}"  # the old complete version survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell"]
    leftover = tmp_path / ".staging-cell@abc"  # what a kill -9 leaves behind
    leftover.mkdir()
    (tmp_path / ".staging-cellar@x").mkdir()  # another cell's: untouched
    assert clean_staging(final) == 1 and not leftover.exists() and (tmp_path / ".staging-cellar@x").exists()


def test_publish_indexes_once_and_finished_repairs_a_missing_line(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    summary = {"key": "k1", "variant": "v", "metrics": {"J&F": 0.5}}
    who = {"study": "study", "cell": "v-s0--b-test", "variant": "v", "seed": 0, "source": "trained"}
    for _ in range(2):
        store.publish(summary, {"samples.jsonl": "{}\n"})
        store.bind(summary, **who)
    assert [r["key"] for r in store.records()] == ["k1"] and len(store.index_path.read_text().splitlines()) == 1
    assert store.records()[0]["path"] == "cells/k1" and store.records()[0]["source"] == "trained"
    store.index_path.unlink()  # killed after the folder was renamed, before the index line
    found = store.finished("k1")
    assert found is not None and store.finished("k2") is None
    store.bind(found, **who)
    assert [r["key"] for r in store.records()] == ["k1"]


def test_keys_ignore_card_location_but_see_every_input() -> None:
    config = {"model": {"type": "m"}, "card": {"name": "c", "file": "/a/models/c.yaml"}, "train": {}, "seed": 0}
    moved = {**config, "card": {"name": "c", "file": "/elsewhere/models/c.yaml"}}
    assert train_store_key(config, "fp") == train_store_key(moved, "fp")
    assert train_store_key(config, "fp") != train_store_key(config, "fp2")
    base = store_key(config, "sha", "fp", "1")
    assert base == store_key(moved, "sha", "fp", "1")
    assert len({base, store_key(config, "sha2", "fp", "1"), store_key(config, "sha", "fp2", "1"),
                store_key(config, "sha", "fp", "2"), store_key({**config, "seed": 1}, "sha", "fp", "1")}) == 5


def _writer(root: str, worker: int) -> None:
    store = ResultStore(root)
    for i in range(25):
        store.bind({"key": f"{worker}-{i}", "filler": "x" * 2000}, study="s", cell=f"{worker}-{i}", variant="v",
                   seed=0, source="trained")


def test_concurrent_writers_do_not_corrupt_the_index(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(tmp_path), w)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    lines = (tmp_path / "index.jsonl").read_text().splitlines()
    assert len(lines) == 75 and all(json.loads(line)["filler"] for line in lines)


def test_a_cell_id_is_counted_once_with_its_latest_result(tmp_path: Path) -> None:
    """A study binds each cell id once: a re-run (or a duplicated seed) rebinds it, never adds a row."""
    store = ResultStore(tmp_path)
    who = {"study": "s", "cell": "v-s0--b-test", "variant": "v", "seed": 0, "source": "trained"}
    for key, value in (("k1", 0.506), ("k2", 0.003), ("k2", 0.003)):
        summary = {"key": key, "variant": "v", "metrics": {"J&F": value}}
        store.publish(summary, {})
        store.bind(summary, **who)
    assert [(r["key"], r["metrics"]["J&F"]) for r in store.records()] == [("k2", 0.003)]
    assert len(store.index_path.read_text().splitlines()) == 2  # the repeated binding was not appended
