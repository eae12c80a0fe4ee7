"""The result store's policy, end to end: a cell shared by every study that resolves to its key, one
reading policy for every reader, ``eval --name`` refused or replaced (never averaged), stores of the
first layout read and migrated without losing a cell, reports next to the store, jobs that die with
their parent, and inference-only models that are not called trained."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import yaml

from rvosbench.cli.main import main
from rvosbench.core.store import ResultStore, read_bindings, read_jsonl

from .test_run import REPO, cell_path, model_records, train_path, write_study

BENCH = "tinysynth-test"


def run(study: Path, store: Path, *args: str) -> int:
    return main(["run", str(study), "--store", str(store), "--baselines", "empty", *args])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny study, run once into a store (report included): ``(study file, store)``."""
    root = tmp_path_factory.mktemp("tiny")
    study = write_study(root)
    store = root / "runs"
    assert run(study, store) == 0
    return study, store


def copy_store(store: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs"
    shutil.copytree(store, copy, ignore=shutil.ignore_patterns(".locks"))
    return copy


def test_a_second_study_reuses_the_trainings_and_cells_of_the_first(tiny, tmp_path, capsys) -> None:
    study, store = tiny
    store = copy_store(store, tmp_path)
    capsys.readouterr()
    bigger = study.with_name("tiny_all.yaml")
    bigger.write_text(study.read_text().replace("name: tiny", "name: tiny_all")
                      .replace("  wide: {model: {hidden: 8}}", "  wide: {model: {hidden: 8}}\n  narrow: {model: {hidden: 2}}"))
    assert run(bigger, store, "--no-report") == 0
    out = capsys.readouterr().out
    assert out.count("finished earlier") == 2 and "[train 3/3] narrow-s0: 6 steps" in out
    assert out.count("(stored earlier by study tiny)") == 2 and "1 cells computed, 2 found stored" in out
    lines = {(r["study"], r["cell"]): r for r in ResultStore(store).records()}
    for cell in (f"base-s0--{BENCH}", f"wide-s0--{BENCH}"):  # one folder, bound by both studies
        assert lines[("tiny", cell)]["path"] == lines[("tiny_all", cell)]["path"]
        assert lines[("tiny", cell)]["train_path"] == lines[("tiny_all", cell)]["train_path"]


def test_the_ablation_studies_resolve_shared_variants_to_the_same_keys() -> None:
    """``all.yaml``'s ProxyFormer and no-JSC cells are ``jsc.yaml``'s: same configs, so same store keys."""
    from rvosbench.core.plan import load_plan
    from rvosbench.core.store import portable

    jsc, every = load_plan(REPO / "ablations/jsc.yaml"), load_plan(REPO / "ablations/all.yaml")
    shared = {c.id: c for c in jsc.eval_cells}
    assert set(shared) <= {c.id for c in every.eval_cells}
    for cell in every.eval_cells:
        if cell.id in shared:
            assert portable(cell.config) == portable(shared[cell.id].config)
    for cell in every.train_cells:
        twin = next((c for c in jsc.train_cells if c.id == cell.id), None)
        assert twin is None or portable(twin.config) == portable(cell.config)


def test_every_reader_skips_a_torn_index_line_alike(tiny, tmp_path) -> None:
    _, store = tiny
    store = copy_store(store, tmp_path)
    with open(store / "index.jsonl", "a") as handle:
        handle.write('{"key": "torn", "study": "tiny", "cel')  # a writer killed mid-append
    from rvosbench.report.store import load_index, load_study

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine_view = sorted((r["study"], r["cell"]) for r in ResultStore(store).records())
        report_view = sorted(zip(load_index(store)["study"], load_index(store)["cell"]))
        study_view = sorted(load_study("tiny", store).cells)
    assert engine_view == sorted([*report_view, ("tiny", f"empty--{BENCH}")])  # the index leaves references out
    assert [cell for _, cell in report_view] == study_view == [f"base-s0--{BENCH}", f"wide-s0--{BENCH}"]
    assert any("index.jsonl:" in str(w.message) and "unreadable line" in str(w.message) for w in caught)


def _score(store: Path, study_dir: Path, cell: str, *extra: str) -> int:
    predictions = cell_path(store, cell) / "predictions" / "predictions.zip"
    return main(["eval", "--benchmark", str(study_dir / "benchmarks/tinysynth.yaml"), "--predictions", str(predictions),
                 "--name", "mine", "--store", str(store), "--workers", "1", *extra])


def test_a_name_in_the_store_is_refused_and_overwrite_replaces_it(tiny, tmp_path, capsys) -> None:
    study, store = tiny
    store = copy_store(store, tmp_path)
    assert _score(store, study.parent, f"base-s0--{BENCH}") == 0
    capsys.readouterr()
    assert _score(store, study.parent, f"wide-s0--{BENCH}") == 2
    refused = capsys.readouterr().err.strip().splitlines()
    assert len(refused) == 1 and "'mine' already has a result on tinysynth/test" in refused[0]
    assert "--overwrite" in refused[0]
    assert _score(store, study.parent, f"wide-s0--{BENCH}", "--overwrite") == 0
    wide = json.loads((cell_path(store, f"wide-s0--{BENCH}") / "summary.json").read_text())["metrics"]["J&F"]
    mine = [r for r in ResultStore(store).records() if r["study"] == "external"]
    assert len(mine) == 1 and mine[0]["metrics"]["J&F"] == wide  # replaced, not averaged
    assert len([p for p in (store / "cells").iterdir() if (p / "summary.json").is_file()
                and json.loads((p / "summary.json").read_text())["source"] == "external"]) == 1
    assert main(["leaderboard", "--store", str(store), "--formats", "md"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "| mine |" in line)
    assert f"| {100 * wide:.1f} |" in row and "| 1 |" in row  # one seed, the second score
    assert (store / "reports/leaderboard/leaderboard.md").is_file()  # next to the store


def to_first_layout(store: Path) -> None:
    """Rewrite a store as the first layout wrote it: ``<study>/cells/<id>``, ``<study>/train/<id>``."""
    lines = [json.loads(line) for line in (store / "index.jsonl").read_text().splitlines()]
    legacy = []
    for line in lines:
        kind = "baselines" if line["source"] == "baseline" else "cells"
        target = store / line["study"] / kind / line["cell"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(store / line["path"], target)
        if line.get("train_path") and (store / line["train_path"]).exists():
            shutil.move(store / line["train_path"], store / line["study"] / "train" / f"{line['variant']}-s{line['seed']}")
        if kind == "cells":
            legacy.append({**{k: v for k, v in line.items() if k not in ("cell", "train_path")},
                           "path": f"{line['study']}/cells/{line['cell']}"})
    for name in ("cells", "trainings", "store.json"):
        shutil.rmtree(store / name) if (store / name).is_dir() else (store / name).unlink()
    for study in {line["study"] for line in lines}:
        shutil.move(store / "studies" / study / "plan.yaml", store / study / "plan.yaml")
    shutil.rmtree(store / "studies")
    (store / "index.jsonl").write_text("".join(json.dumps(line) + "\n" for line in legacy))


def test_a_first_layout_store_is_read_in_place_then_migrated_without_recomputing(tiny, tmp_path, capsys) -> None:
    study, store = tiny
    store = copy_store(store, tmp_path)
    before = {(r["study"], r["cell"]): (r["key"], r["metrics"]) for r in ResultStore(store).records()}
    to_first_layout(store)
    assert (store / f"tiny/cells/base-s0--{BENCH}/summary.json").is_file()
    in_place = {(r["study"], r["cell"]): (r["key"], r["metrics"]) for r in read_bindings(store)}
    assert in_place == before  # read as it is, keys and numbers unchanged
    capsys.readouterr()
    assert run(study, store, "--no-report") == 0
    out = capsys.readouterr().out
    assert "moved 3 cells and 2 trainings of 1 studies to layout 2" in out
    assert out.count("finished earlier") == 2 and "0 cells computed, 2 found stored" in out
    assert {(r["study"], r["cell"]): (r["key"], r["metrics"]) for r in ResultStore(store).records()} == before
    assert not (store / "tiny").exists() and json.loads((store / "store.json").read_text()) == {"layout": 2}


def test_reports_go_next_to_the_store_and_errors_point_to_store(tiny, tmp_path, capsys) -> None:
    _, store = tiny
    assert (store / "reports/tiny/tiny.html").is_file()  # written by the run, next to its store
    capsys.readouterr()
    assert main(["report", "tiny", "--store", str(store), "--formats", "md"]) == 0
    assert str(store / "reports/tiny/tiny.md") in capsys.readouterr().out
    assert main(["leaderboard", "--store", str(tmp_path / "elsewhere")]) == 2
    assert "--store" in capsys.readouterr().err
    assert main(["report", "tiny", "--store", str(tmp_path / "elsewhere")]) == 2
    assert "--store" in capsys.readouterr().err


def test_inference_only_models_have_no_training_and_are_not_called_trained(tmp_path, capsys) -> None:
    study = write_study(tmp_path)
    study.write_text(study.read_text().replace("  wide: {model: {hidden: 8}}", "  fixed: {train: {steps: 0, evaluate_untrained: true}}"))
    assert run(study, tmp_path / "runs", "--no-report") == 0
    out = capsys.readouterr().out
    assert "[inference] fixed-s0: 0 optimiser steps, evaluated with the weights as built" in out
    assert "[train 1/1] base-s0" in out and "fixed-s0: 0 steps" not in out
    sources = {r["variant"]: r["source"] for r in model_records(tmp_path / "runs")}
    assert sources == {"base": "trained", "fixed": "inference"}
    plan = yaml.safe_load((tmp_path / "runs/studies/tiny/plan.yaml").read_text())
    assert plan["inference_only"] == ["fixed-s0"] and "fixed-s0" not in [c["id"] for c in plan["cells"]]
    assert main(["show", str(study)]) == 0
    shown = capsys.readouterr().out
    assert "training cells (1):" in shown and "fixed-s0" in shown and "no training: train.steps is 0" in shown


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc (Linux)")
def test_jobs_die_with_their_parent(tmp_path) -> None:
    study = write_study(tmp_path)
    marks = tmp_path / "pids"
    marks.mkdir()
    parent = subprocess.Popen([sys.executable, "-m", "rvosbench", "run", str(study), "--store", "runs", "--jobs", "2",
                               "--no-report", "--baselines", "none"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
                                   "ENGINE_TOY_SLOW": str(marks)})
    deadline = time.time() + 120
    while len(list(marks.iterdir())) < 2 and time.time() < deadline and parent.poll() is None:
        time.sleep(0.2)
    children = [int(p.name) for p in marks.iterdir()]
    assert len(children) == 2 and all(map(_alive, children)), "both jobs should be training"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    while any(map(_alive, children)) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(map(_alive, children)), "a job outlived the process that started it"
    assert not train_path(tmp_path / "runs", "base-s0").joinpath("done.json").exists()


def test_leaderboard_shows_a_ci_and_flags_partial_data(tiny, tmp_path, capsys) -> None:
    study, store = tiny
    store = copy_store(store, tmp_path)
    limited = study.with_name("tiny_limited.yaml")
    limited.write_text(study.read_text().replace("name: tiny", "name: tiny_limited")
                       .replace("eval: {", "eval: {limit: 2, "))
    assert run(limited, store, "--no-report") == 0
    assert "finished earlier" in capsys.readouterr().out  # the trainings of `tiny` are reused
    from rvosbench.report import write_leaderboard

    rows = {}
    for name in ("tiny", "tiny_limited"):  # the board keeps one study per model: ask for each
        document, _ = write_leaderboard(store, tmp_path / name, {"studies": [name]}, formats="csv")
        table = document.tables[0]
        rows[name] = next(row for row in table.rows if row[2].text == "base")
        frame = table.data[(table.data["metric"] == "J&F") & (table.data["variant"] == "base")].iloc[0]
        assert 0 <= frame["ci_low"] <= frame["reproduced"] <= frame["ci_high"] <= 1
    assert rows["tiny"][6].text == "full" and rows["tiny_limited"][6].text == "partial"
    assert "eval.limit: the first 2 of 10 samples" in rows["tiny_limited"][6].title
    assert rows["tiny"][8].text.startswith("[")  # the CI column, after the primary metric


def test_predict_checks_the_checkpoint_sha256(tiny, tmp_path, capsys) -> None:
    study, store = tiny
    trained = tmp_path / "training"
    shutil.copytree(train_path(store, "base-s0"), trained)
    with open(trained / "last.pt", "ab") as handle:
        handle.write(b"\0")  # the file changed after training
    frames = tmp_path / "frames"
    frames.mkdir()
    from PIL import Image

    for i in range(2):
        Image.new("RGB", (32, 24), (200, 30, 30)).save(frames / f"{i:05d}.jpg")
    args = ["predict", str(study.parent / "models/engine_toy.yaml"), "--video", str(frames), "--text", "the red square",
            "--out", str(tmp_path / "out"), "--plugin", str(Path(__file__).parent / "toy_plugin.py")]
    assert main([*args, "--checkpoint", str(trained / "last.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "checkpoint sha256" in err and "differs from" in err and "done.json" in err
    card = tmp_path / "models/engine_toy.yaml"  # a copy: the fixture's card stays as it is
    card.parent.mkdir()
    card.write_text((study.parent / "models/engine_toy.yaml").read_text().replace("card:\n", f"card:\n  checkpoint: {{path: {trained / 'last.pt'}, "
                                                        f"sha256: {'de' * 32}}}\n", 1))
    assert main([*args[:1], str(card), *args[2:]]) == 2  # the card's own checkpoint, against its sha256
    assert "differs from the card's checkpoint.sha256" in capsys.readouterr().err


def test_an_exported_study_has_no_weights_and_rebuilds_its_report(tiny, tmp_path, capsys) -> None:
    """``rvosbench export`` (how results/ is shipped): bound cells whole, trainings as config + log + done
    marker only, the report rebuilt from the copy alone; a second export is refused without --overwrite."""
    _, store = tiny
    shipped = tmp_path / "results" / "synth"
    assert main(["export", "tiny", "--store", str(store), "--out", str(shipped)]) == 0
    assert not list(shipped.rglob("*.pt")) and list(store.rglob("*.pt"))
    original = {(r["cell"], r["key"]) for r in read_bindings(store) if r["study"] == "tiny"}
    assert {(r["cell"], r["key"]) for r in read_bindings(shipped)} == original
    for line in read_bindings(shipped):
        if line["train_path"]:
            assert sorted(p.name for p in (shipped / line["train_path"]).iterdir()) == \
                ["config.yaml", "done.json", "train_log.jsonl"]
    capsys.readouterr()
    assert main(["report", str(shipped / "tiny"), "--formats", "md"]) == 0
    assert (shipped / "reports" / "tiny" / "tiny.md").is_file()
    assert main(["export", "tiny", "--store", str(store), "--out", str(shipped)]) == 2
    assert "already holds tiny" in capsys.readouterr().err
    assert main(["export", "tiny", "--store", str(store), "--out", str(shipped), "--overwrite"]) == 0
    assert len(list(read_jsonl(shipped / "index.jsonl"))) == len(original)
