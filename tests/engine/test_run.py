"""``rvosbench run`` end to end on a tiny study: table and store, skipping, cache keys, kill -9 and resume,
and a 2-process torchrun (gloo) run that scores exactly like one process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import yaml

from rvosbench.cli.main import main
from rvosbench.core.store import ResultStore

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def write_study(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models/engine_toy.yaml").write_text(
        "card:\n  name: engine_toy\n  input: {num_frames: 3, short_side: 48, max_size: 48,"
        " mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n"
        "model: {type: engine_toy, hidden: 4}\n")
    (tmp_path / "benchmarks").mkdir(exist_ok=True)
    (tmp_path / "benchmarks/tinysynth.yaml").write_text(
        f"type: synth\nroot: {tmp_path / 'synth'}\nsplit: test\nheight: 48\nwidth: 48\nmin_frames: 4\n"
        "max_frames: 6\nvideos: {train: 6, val: 2, test: 4, compositional: 2}\n")
    study = tmp_path / "tiny.yaml"
    study.write_text(f"""
name: tiny
title: tiny engine study
plugins: [{HERE / 'toy_plugin.py'}]
model: {{card: engine_toy}}
train:
  benchmark: tinysynth/train
  steps: 6
  batch_size: 2
  lr: 0.05
  warmup: 0
  checkpoint_every: 3
  log_every: 2
eval: {{strips: 1, window: 4, save_predictions: true, scaling: [2, 4], scaling_limit: 2}}
benchmarks: [tinysynth/test]
seeds: [0]
baseline: base
variants:
  base: {{}}
  wide: {{model: {{hidden: 8}}}}
""")
    return study


def run(study: Path, out: Path, *args: str, capsys=None) -> str:
    code = main(["run", str(study), "--out", str(out), "--no-report", "--baselines", "empty", *args])
    assert code == 0
    return capsys.readouterr().out + capsys.readouterr().err if capsys else ""


def cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, launcher: list[str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    command = [*(launcher or [sys.executable, "-m"]), "rvosbench", *args]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def cell_path(out: Path, cell: str, study: str = "tiny") -> Path:
    """The folder of the result the store binds to ``study``'s cell id ``cell``."""
    line = ResultStore(out).binding(study, cell)
    assert line is not None, f"{study}/{cell} is not in the store {out}"
    return out / line["path"]


def train_path(out: Path, train_id: str, study: str = "tiny") -> Path:
    """The training folder of ``study``'s training cell ``train_id`` (e.g. ``base-s0``)."""
    for config in sorted((out / "trainings").glob("*/config.yaml")):
        data = yaml.safe_load(config.read_text())
        if data.get("cell") == train_id and data.get("study") == study:
            return config.parent
    return out / "trainings" / f"(no training of {train_id})"


def model_records(out: Path) -> list[dict]:
    """The store's bindings of models (reference predictors left out)."""
    return [r for r in ResultStore(out).records() if r["source"] != "baseline"]


def metrics(out: Path, cell: str) -> dict:
    return json.loads((cell_path(out, cell) / "summary.json").read_text())["metrics"]


def records(out: Path, cell: str) -> list[dict]:
    lines = (cell_path(out, cell) / "samples.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "latency_ms"} for line in lines]


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_study(tmp_path)


def test_tiny_study_end_to_end_and_rerun_skips(study: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    text = run(study, out, capsys=capsys)
    table = text[text.index("tiny engine study"):]
    assert "base (baseline)" in table and "wide" in table and "empty (trivial)" in table
    assert sorted(r["variant"] for r in model_records(out)) == ["base", "wide"]
    cell = cell_path(out, "base-s0--tinysynth-test")
    assert {p.name for p in cell.iterdir()} >= {"config.yaml", "env.json", "summary.json", "samples.jsonl",
                                                "timings.json", "strips", "predictions"}
    summary = json.loads((cell / "summary.json").read_text())
    assert summary["split"] == "test" and summary["checkpoint_sha256"] and 0 <= summary["metrics"]["J&F"] <= 1
    assert len((cell / "samples.jsonl").read_text().splitlines()) == 10
    train = train_path(out, "base-s0")
    assert {"last.pt", "done.json", "train_log.jsonl", "config.yaml"} <= {p.name for p in train.iterdir()}
    from rvosbench.engine.offline_eval import run_offline_eval

    rescored = run_offline_eval(str(tmp_path / "benchmarks/tinysynth.yaml"), cell / "predictions/predictions.zip",
                                out=tmp_path / "rescored", workers=1)
    assert rescored.metrics == summary["metrics"]  # the saved masks are the ones that were scored
    cost = [json.loads(line) for line in (out / "studies/tiny/cost.jsonl").read_text().splitlines()]
    assert [c["variant"] for c in cost] == ["base", "wide"] and cost[0]["flops"] > 0 and cost[0]["frames"] == 4
    assert cost[0]["params"] == 4 * 3 + 4 + 4 + 1 and cost[1]["params"] > cost[0]["params"]
    scaling = [json.loads(line) for line in (out / "studies/tiny/scaling.jsonl").read_text().splitlines()]
    assert [(p["variant"], p["num_frames"]) for p in scaling] == [("base", 2), ("base", 4), ("wide", 2), ("wide", 4)]
    assert all(0 <= p["J&F"] <= 1 and p["latency_ms"] >= 0 for p in scaling)
    assert (out / "studies/tiny/plan.yaml").is_file() and (cell_path(out, "empty--tinysynth-test") / "summary.json").is_file()

    again = run(study, out, capsys=capsys)
    assert again.count("stored earlier") == 2 and again.count("finished earlier") == 2  # nothing recomputed
    assert "2 found stored" in again and len(model_records(out)) == 2


def _zip_of_indexed_pngs(path: Path) -> None:
    names = zipfile.ZipFile(path).namelist()
    assert names and all(n.startswith("anno_") and n.count("/") == 2 for n in names)


def _coco_results(path: Path) -> None:
    detections = json.loads(path.read_text())
    assert detections and {"image_id", "category_id", "segmentation", "score"} <= set(detections[0])


@pytest.mark.parametrize("fixture, split, saved, check", [
    ("ref_davis17", "valid", "predictions.zip", _zip_of_indexed_pngs),
    ("a2d_sentences", "test", "results.json", _coco_results),
])
def test_saved_predictions_are_in_the_native_layout_and_rescore_to_the_run(
        study: Path, tmp_path: Path, capsys, fixture: str, split: str, saved: str, check) -> None:
    from rvosbench.data.fixtures import write_fixture
    from rvosbench.engine.offline_eval import run_offline_eval

    write_fixture(fixture, tmp_path / "data")
    config = tmp_path / "benchmarks/fixture.yaml"
    config.write_text(f"type: {fixture}\nroot: {tmp_path / 'data'}\nsplit: {split}\n")
    out = tmp_path / "runs"
    run(study, out, "--only", "base", "--set", f"benchmarks=[fixture/{split}]", capsys=capsys)
    cell = cell_path(out, f"base-s0--fixture-{split}")
    summary = json.loads((cell / "summary.json").read_text())
    check(cell / "predictions" / saved)
    rescored = run_offline_eval(str(config), cell / "predictions" / saved, out=tmp_path / "rescored", workers=1)
    assert rescored.metrics == summary["metrics"]


def test_cache_keys_rerun_exactly_the_affected_cells(study: Path, tmp_path: Path, capsys,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "runs"
    run(study, out, capsys=capsys)
    changed = run(study, out, "--set", "variants.wide.model.hidden=6", capsys=capsys)
    assert "[train 2/2] wide-s0: 6 steps" in changed and "base-s0--tinysynth-test: J&F" in changed
    assert "wide-s0--tinysynth-test: J&F" in changed and changed.count("stored earlier") == 1
    # evaluation change only, and wide back to hidden=4: its first training is found again by its key
    evaluation = run(study, out, "--set", "eval.window=3", capsys=capsys)
    assert evaluation.count("finished earlier") == 2 and evaluation.count("stored earlier") == 0
    from rvosbench.metrics.per_expression import PerExpression

    monkeypatch.setattr(PerExpression, "metric_version", "changed")
    versioned = run(study, out, "--set", "eval.window=3", "--baselines", "none", capsys=capsys)
    assert versioned.count("finished earlier") == 2 and "1 cells computed" not in versioned \
        and "2 cells computed" in versioned
    only = run(study, out, "--set", "eval.window=3", "--only", "wide", capsys=capsys)
    assert "base-s0" not in only.split("\n\n")[0] and "1 found stored" in only
    stored = [json.loads(p.read_text()) for p in (out / "cells").glob("*/summary.json")]
    assert len([s for s in stored if s["source"] != "baseline"]) == 7  # 2 + wide(6) + 2 windows + 2 versions
    assert len(model_records(out)) == 2  # the study binds each cell id once: to its latest result


def test_kill_during_training_then_rerun_resumes(tmp_path: Path) -> None:
    study = write_study(tmp_path)
    args = ["run", str(study), "--out", "runs", "--no-report", "--baselines", "none"]
    killed = cli(args, tmp_path, env={"ENGINE_TOY_KILL_AFTER": "10"}, check=False)  # wide, step 4 of 6
    assert killed.returncode == -9
    out = tmp_path / "runs"
    assert (cell_path(out, "base-s0--tinysynth-test") / "summary.json").is_file()
    assert not (train_path(out, "wide-s0") / "done.json").exists()
    resumed = cli(args, tmp_path)
    text = resumed.stdout + resumed.stderr
    assert "base-s0--tinysynth-test: J&F" in text and "stored earlier" in text
    assert "resumed from the checkpoint of step 3" in text
    log = [json.loads(line)["step"] for line in (train_path(out, "wide-s0") / "train_log.jsonl").read_text().splitlines()]
    assert log == [2, 4, 6]
    assert [r["variant"] for r in model_records(out)] == ["base", "wide"]


def test_two_process_run_scores_like_one_process(tmp_path: Path) -> None:
    """``--nproc 2`` launches torchrun (gloo on CPU): evaluation sharded by video gives exactly the
    one-process metrics, and DDP training with the same global batch trains the same model."""
    study = write_study(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    cli(["run", str(study), "--out", str(one), "--no-report", "--baselines", "none"], tmp_path)
    base = train_path(one, "base-s0")
    shutil.copytree(base, two / "trainings" / base.name)  # same weights: eval must match
    result = cli(["run", str(study), "--out", str(two), "--no-report", "--baselines", "none", "--nproc", "2"],
                 tmp_path)
    assert "finished earlier" in result.stdout + result.stderr  # base was not retrained
    assert metrics(two, "base-s0--tinysynth-test") == metrics(one, "base-s0--tinysynth-test")
    assert records(two, "base-s0--tinysynth-test") == records(one, "base-s0--tinysynth-test")
    assert json.loads((cell_path(two, "base-s0--tinysynth-test") / "timings.json").read_text())["processes"] == 2
    one_log = [json.loads(line) for line in (train_path(one, "wide-s0") / "train_log.jsonl").read_text().splitlines()]
    two_log = [json.loads(line) for line in (train_path(two, "wide-s0") / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in two_log] == [2, 4, 6]  # wide was trained with DDP
    for a, b in zip(one_log, two_log):  # same data, same global batch: the same training up to float order
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
    assert len(model_records(two)) == 2


def test_jobs_run_cells_side_by_side_and_store_what_one_process_stores(tmp_path: Path) -> None:
    """``--jobs 2`` trains the two variants in two processes, then prints the table from the store; each
    cell is the cell a one-process run computes (same losses step by step, same metrics)."""
    study = write_study(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    cli(["run", str(study), "--out", str(one), "--no-report", "--baselines", "none"], tmp_path)
    result = cli(["run", str(study), "--out", str(two), "--no-report", "--baselines", "none", "--jobs", "2"],
                 tmp_path)
    text = result.stdout + result.stderr
    assert "[jobs] 2 processes of 1 thread(s): base-s0, base-s0--tinysynth-test; wide-s0, wide-s0--tinysynth-test" in text
    assert "2 found stored" in text and "tiny engine study" in text  # the table, from the stored cells
    for cell in ("base-s0--tinysynth-test", "wide-s0--tinysynth-test"):
        summary = json.loads((cell_path(two, cell) / "summary.json").read_text())
        expected = json.loads((cell_path(one, cell) / "summary.json").read_text())
        assert summary["metrics"] == expected["metrics"]
        assert records(two, cell) == records(one, cell)
    for variant in ("base", "wide"):  # the same training, step by step (checkpoints also hold wall times)
        losses = [[json.loads(line)["loss"] for line in (train_path(out, f"{variant}-s0") / "train_log.jsonl")
                   .read_text().splitlines()] for out in (one, two)]
        assert losses[0] == losses[1]
    clash = cli(["run", str(study), "--out", str(two), "--jobs", "2", "--nproc", "2"], tmp_path, check=False)
    assert clash.returncode == 2 and "--jobs and --nproc cannot be combined" in clash.stderr
    assert "Traceback" not in clash.stderr
