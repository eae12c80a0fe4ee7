"""Scoring in worker processes (rvosbench.engine.scoring): the numbers of one process for any number of workers,
in ``rvosbench eval`` and inside ``rvosbench run``."""
import json
import os
import shutil

import numpy as np

from rvosbench.core.store import ResultStore
from rvosbench.core.types import Prediction
from rvosbench.data.fixtures import write_fixture
from rvosbench.engine.evaluation import run_evaluation
from rvosbench.engine.offline_eval import benchmark_config, build, run_offline_eval
from rvosbench.engine.scoring import VideoScorer
from rvosbench.cli.main import main

from test_metrics_new_protocols import write_predictions
from tests.engine.test_run import write_study


def _where(evaluator, samples, number):
    """A task that says which process ran it and how many samples that process's benchmark has."""
    return number, os.getpid(), len(samples.by_uid)


def mevis_v2(tmp_path):
    """The MeViS v2 fixture's train split: two videos of five expressions (no-target and multi-target ones)."""
    fixture = write_fixture("mevis_v2", tmp_path / "data")
    config = benchmark_config("benchmarks/mevis_v2.yaml", split="train", root=str(fixture.root))
    return fixture, config, build(config)


def test_tasks_run_in_workers_and_in_the_caller_and_come_back_in_order(tmp_path):
    _, config, bench = mevis_v2(tmp_path)
    with VideoScorer(bench, config, workers=2) as scorer:
        for number in range(12):
            scorer.submit(_where, number)
        results = [returned for returned, _ in scorer.results(wait=True)]
    assert [number for number, _, _ in results] == list(range(12))
    pids = {pid for _, pid, _ in results}
    assert os.getpid() in pids and len(pids) == 2             # the caller scores too, one worker process helps
    assert {count for _, _, count in results} == {len(bench.sample_list())}  # the worker rebuilt the benchmark


def test_eval_workers_give_identical_results(tmp_path):
    fixture, _, _ = mevis_v2(tmp_path)
    predictions = write_predictions(fixture, "train", tmp_path / "pred", lambda v, e: 0 if e == "3" else 255)
    results = [run_offline_eval("benchmarks/mevis_v2.yaml", predictions, split="train", root=str(fixture.root),
                                out=tmp_path / str(n), workers=n) for n in (1, 2, 3)]
    assert len({r["video_id"] for r in results[0].records}) == 2
    for other in results[1:]:
        assert other.metrics == results[0].metrics
        assert other.records == results[0].records and other.tables == results[0].tables


def test_evaluation_with_scoring_workers_equals_one_process(tmp_path):
    _, config, bench = mevis_v2(tmp_path)
    samples = bench.sample_list()

    def shifted(sample):
        return Prediction(masks=np.roll(sample.masks(), len(sample.text) % 3, axis=2))

    runs = []
    for workers in (1, 2, 3):
        with VideoScorer(bench, config, workers) as scorer:
            runs.append(run_evaluation(shifted, samples, bench_protocol(bench), strips=2, scorer=scorer))
    for other in runs[1:]:
        assert other.metrics == runs[0].metrics and other.tables == runs[0].tables
        assert [dict(r, latency_ms=None) for r in other.records] == [dict(r, latency_ms=None) for r in runs[0].records]
        assert list(other.strips) == list(runs[0].strips)


def bench_protocol(bench):
    from rvosbench.core.registry import PROTOCOLS

    return PROTOCOLS.build_from({"type": bench.protocol})


def test_run_gives_identical_numbers_for_any_eval_workers(tmp_path, capsys):
    study = write_study(tmp_path)
    store = tmp_path / "runs"
    args = ["run", str(study), "--store", str(store), "--no-report", "--baselines", "none", "--only", "base"]
    assert main([*args, "--eval-workers", "1"]) == 0
    cells = ResultStore(store).root / "cells"
    first = {p.name: json.loads((p / "summary.json").read_text())["metrics"] for p in cells.iterdir()}
    records = {p.name: (p / "samples.jsonl").read_text() for p in cells.iterdir()}
    shutil.rmtree(cells)                                       # evaluate again from the stored training
    assert main([*args, "--eval-workers", "3"]) == 0
    again = {p.name: json.loads((p / "summary.json").read_text())["metrics"] for p in cells.iterdir()}
    assert again == first and len(first) == 1

    def scores(text):
        return [{k: v for k, v in json.loads(line).items() if k != "latency_ms"} for line in text.splitlines()]

    assert all(scores((cells / name / "samples.jsonl").read_text()) == scores(text) for name, text in records.items())
