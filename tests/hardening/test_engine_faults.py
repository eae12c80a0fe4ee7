"""Faults during a run: kill -9 while evaluating and while writing results, a full disk, a NaN loss,
and unusable checkpoints. After each, the same ``rvosbench run`` again loses no finished cell, adds none
twice, and leaves a readable store.

The tiny study and its model come from the engine's end-to-end tests (tests/engine); faults are injected
into the run's own process by ``fault_plugin.py``.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from rvosbench.cli.main import main
from rvosbench.core.store import ResultStore

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("engine_run_helpers", HERE.parent / "engine/test_run.py")
engine_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(engine_run)


def faulty_study(tmp_path: Path) -> Path:
    study = engine_run.write_study(tmp_path)
    text = study.read_text().replace("plugins: [", f"plugins: [{HERE / 'fault_plugin.py'}, ", 1)
    # the fault plug-in patches the toy model, so it must load after it
    first, second = text.split("plugins: [", 1)[1].split("]", 1)[0].split(", ")
    study.write_text(text.replace(f"{first}, {second}", f"{second}, {first}"))
    return study


def run_args(study: Path) -> list[str]:
    return ["run", str(study), "--out", "runs", "--no-report", "--baselines", "none"]


def finished_cells(out: Path) -> list[str]:
    """Cell ids of the finished cells in ``<store>/cells/<key>/`` (bound in the index or not)."""
    summaries = [json.loads(p.read_text()) for p in (out / "cells").glob("*/summary.json")]
    return sorted(f"{s['variant']}-s{s['seed']}--tinysynth-test" for s in summaries)


def assert_complete_store(out: Path) -> None:
    records = ResultStore(out).records()
    assert sorted(r["variant"] for r in records) == ["base", "wide"]  # each cell exactly once
    cells = finished_cells(out)
    assert [c.split("-s0--")[0] for c in cells] == ["base", "wide"]
    for cell in cells:
        folder = engine_run.cell_path(out, cell)
        summary = json.loads((folder / "summary.json").read_text())
        lines = (folder / "samples.jsonl").read_text().splitlines()
        assert summary["metrics"]["J&F"] >= 0 and lines and all(json.loads(line) for line in lines)
    assert not list((out / "cells").glob(".staging-*"))


@pytest.mark.parametrize("fault", ["predict:3", "cell-write", "index-append"])
def test_kill_then_rerun_keeps_finished_cells_and_completes(tmp_path: Path, fault: str) -> None:
    study = faulty_study(tmp_path)
    killed = engine_run.cli(run_args(study), tmp_path, env={"RVOSBENCH_FAULT": fault}, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    out = tmp_path / "runs"
    if ResultStore(out).index_path.exists():  # whatever was indexed before the kill is readable
        ResultStore(out).records()
    finished_before = finished_cells(out)  # none yet if the kill came before the first cell
    resumed = engine_run.cli(run_args(study), tmp_path)
    text = resumed.stdout + resumed.stderr
    for cell in finished_before:
        assert f"{cell}: J&F" in text and "stored earlier" in text
    assert "finished earlier" in text  # training was not repeated
    assert_complete_store(out)


def test_full_disk_is_one_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    study = faulty_study(tmp_path)
    full = engine_run.cli(run_args(study), tmp_path, env={"RVOSBENCH_FAULT": "disk-full"}, check=False)
    assert full.returncode == 2
    error = full.stderr.strip().splitlines()[-1]
    assert error.startswith("rvosbench: error: ") and "the disk is full" in error and "Traceback" not in full.stderr
    assert engine_run.train_path(tmp_path / "runs", "base-s0").is_dir()  # the trained checkpoint is kept
    resumed = engine_run.cli(run_args(study), tmp_path)
    assert "finished earlier" in resumed.stdout + resumed.stderr
    assert_complete_store(tmp_path / "runs")


def test_nan_loss_stops_with_one_line_and_keeps_the_checkpoint(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    study = engine_run.write_study(tmp_path)
    code = main([*run_args(study), "--only", "base", "--set", "+model.fail_at_call=5"])
    err = re.split(r"[\r\n]+", capsys.readouterr().err.strip())  # a cleared progress bar ends with \r
    assert code == 2 and err[-1].startswith("rvosbench: error:") and "the loss became nan" in err[-1], err
    checkpoints = list(engine_run.train_path(tmp_path / "runs", "base-s0").glob("*.pt"))
    assert checkpoints  # the last good checkpoint (step 3) survives


def toy_checkpoint_args(tmp_path: Path, checkpoint: Path) -> list[str]:
    frames = tmp_path / "frames"
    frames.mkdir(exist_ok=True)
    from PIL import Image
    for i in range(3):
        Image.new("RGB", (32, 24), (200, 30, 30)).save(frames / f"{i:05d}.jpg")
    return ["predict", str(tmp_path / "models/engine_toy.yaml"), "--checkpoint", str(checkpoint), "--video",
            str(frames), "--text", "the red square", "--out", str(tmp_path / "pred"),
            "--plugin", str(HERE.parent / "engine/toy_plugin.py")]


def test_checkpoint_with_wrong_shapes(tmp_path: Path, capsys) -> None:
    engine_run.write_study(tmp_path)
    bad = tmp_path / "wrong.pt"
    torch.save({"model": {"backbone.weight": torch.zeros(7, 3, 1, 1), "backbone.bias": torch.zeros(7),
                          "rest.weight": torch.zeros(1, 7, 1, 1), "rest.bias": torch.zeros(1)}}, bad)
    assert main(toy_checkpoint_args(tmp_path, bad)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rvosbench: error:") and "shape" in err[-1] and "wrong.pt" in err[-1]


class Payload:
    """Pickled code: unpickling it would run ``os.system``."""

    def __reduce__(self):
        import os
        return os.system, ("echo pwned > /tmp/rvosbench_pwned",)


def test_checkpoint_carrying_pickled_code_is_refused(tmp_path: Path, capsys) -> None:
    engine_run.write_study(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, evil)
    assert main(toy_checkpoint_args(tmp_path, evil)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rvosbench: error:") and "evil.pt" in err[-1] and "pickled objects or code" in err[-1]
    assert not Path("/tmp/rvosbench_pwned").exists()


def test_missing_checkpoint_file(tmp_path: Path, capsys) -> None:
    engine_run.write_study(tmp_path)
    assert main(toy_checkpoint_args(tmp_path, tmp_path / "nope.pt")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rvosbench: error:") and "nope.pt" in err[-1]
