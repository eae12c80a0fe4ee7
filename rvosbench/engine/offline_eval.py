"""Offline scoring of any model's predictions (``rvosbench eval``): a folder or zip in the benchmark's
native layout, scored with the benchmark's official protocol.

The native layouts are read by :mod:`rvosbench.metrics.prediction_files`, next to the writers that
produce them (docs/metrics.md).

Any missing, extra or mis-sized prediction file is named in one PredictionError line before anything
is scored. Videos are scored in this process and ``--workers - 1`` worker processes, each task one
whole video (:mod:`rvosbench.engine.scoring`); the merged result equals a single-process run. Results go to
``--out`` (``summary.json``, ``samples.jsonl``, ``tables.json``) and, with ``--name``, into the result
store as an ``external`` cell (indexed like a trained model's).
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from rvosbench.core.errors import PredictionError, UserError
from rvosbench.core.hashing import file_sha256
from rvosbench.core.rle import RLEError, decode_rle
from rvosbench.core.plan import read_benchmark_arg
from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.types import Prediction, Sample
from rvosbench.core.atomic import atomic_write_text, jsonl_text
from rvosbench.core.store import ResultStore, store_key, summary_record
from rvosbench.engine.provenance import environment
from rvosbench.engine.scoring import Samples, VideoScorer, start_early
from rvosbench.engine.session import partial_notes, with_data_notes
from rvosbench.metrics.a2d import image_id, top_detection
from rvosbench.metrics.common import annotated_indices
from rvosbench.metrics.prediction_files import (PredictionFiles, check_files, davis_names, expression_names,
                                                layout_names, read_coco_results, read_mask_stack, summarise)

SUBMISSION_LAYOUTS = {"ref_youtube_vos": "ref_youtube_vos", "mevis": "mevis"}
EXTERNAL_STUDY = "external"  # the study under which ``eval --name`` results are bound


# -- the benchmark ----------------------------------------------------------------------------
def benchmark_config(spec: str, split: str | None = None, root: str | None = None) -> dict[str, Any]:
    """Resolve ``benchmarks/<name>.yaml``, a short name (``synth``) or ``name/split`` to a loader config,
    with ``--split`` and ``--root`` on top: the studies' resolver (:func:`rvosbench.core.plan.read_benchmark_arg`)."""
    return read_benchmark_arg(spec, split, root)[0]


def build(config: Mapping[str, Any]) -> Any:
    from rvosbench.data import build_benchmark  # the engine is the layer that may import data

    return build_benchmark(dict(config), where="--benchmark")


def score_videos(protocol: str, evaluator: Any, samples: Sequence[Sample], files: PredictionFiles,
                 prefix: str) -> None:
    """Feed the predictions of ``samples`` (whole videos, in order) to ``evaluator``."""
    if protocol == "ref_davis_u4":
        from rvosbench.metrics.ref_davis import sample_run

        by_video_run: dict[tuple[str, int], list[Sample]] = defaultdict(list)
        for sample in samples:
            by_video_run[(sample.video_id, sample_run(sample))].append(sample)
        for (_, run), group in by_video_run.items():
            names = [prefix + n for n in davis_names(run, group[0])]
            evaluator.process_indexed(run, group, read_mask_stack(files, names, group[0].orig_size))
        return
    raw = getattr(evaluator, "raw_prediction_values", False)  # ReVOS compares the PNGs' gray values
    for sample in samples:
        scored = [i for i, a in enumerate(sample.annotated) if a]
        masks = np.zeros((sample.num_frames, *sample.orig_size), np.uint8 if raw else bool)
        names = [prefix + n for n in expression_names(sample, scored)]
        stack = read_mask_stack(files, names, sample.orig_size, grayscale=raw)
        masks[scored] = stack if raw else stack > 0
        if raw:
            evaluator.process_values(sample, masks)
        else:
            evaluator.process(sample, Prediction(masks))


def default_workers(workers: int | None) -> int:
    """``--workers``, by default up to 4 (scoring scales with cores; more mostly adds memory)."""
    return workers or min(4, os.cpu_count() or 1)


def _videos(samples: Sequence[Sample]) -> list[str]:
    return list(dict.fromkeys(s.video_id for s in samples))


#: prediction folders/zips being scored, listed once per process (a worker lives for one evaluation)
_open_files: dict[str, PredictionFiles] = {}


def _prediction_files(path: str) -> PredictionFiles:
    if path not in _open_files:
        _open_files[path] = PredictionFiles(path)
    return _open_files[path]


def _score_video_files(evaluator: Any, samples: Samples, protocol: str, predictions: str, prefix: str,
                       video: str, position: int) -> int:
    """A scoring task (:mod:`rvosbench.engine.scoring`): one video's prediction files into ``evaluator``;
    returns the video's position, by which its state is merged."""
    score_videos(protocol, evaluator, samples.by_video[video], _prediction_files(predictions), prefix)
    return position


# -- A2D / JHMDB ------------------------------------------------------------------------------
def score_coco_results(evaluator: Any, samples: Sequence[Sample], path: Path) -> None:
    """Feed a COCO results JSON to the ``a2d`` protocol (every detection of each annotated frame)."""
    by_image = read_coco_results(path)
    units = []
    for sample in samples:
        units.extend((sample, frame, image_id(sample, frame)) for frame in annotated_indices(sample))
    expected = {unit_id for _, _, unit_id in units}
    missing = [u for _, _, u in units if u not in by_image]
    extra = sorted(set(by_image) - expected)
    problems = [summarise(label, names) for label, names in (("images without detections", missing),
                                                             ("unknown image_ids", extra)) if names]
    if problems:
        raise PredictionError("COCO results do not match the benchmark: " + "; ".join(problems), where=str(path),
                              hint="image_id is <video>/<exp_id>/<frame> (or the dataset's own id, see docs/metrics.md)")
    for sample, frame, unit_id in tqdm(units, desc="a2d units", unit="frame", mininterval=1.0, leave=False):
        gt = sample.masks([frame])[0]
        every = by_image[unit_id]
        best = top_detection([score for _, score in every])
        try:
            top = decode_rle(every[best][0])
        except RLEError as error:
            raise PredictionError(f"malformed RLE: {error}", where=f"{path} (image_id {unit_id})",
                                  hint="encode masks with pycocotools.mask.encode") from error
        if top.shape != gt.shape:
            raise PredictionError(f"mask is {top.shape[0]}x{top.shape[1]}, the frame is {gt.shape[0]}x{gt.shape[1]}",
                                  where=f"{path} (image_id {unit_id})", hint="encode masks at the original frame size")
        evaluator.add_unit(sample, frame, gt, top, every, best)


# -- the command ------------------------------------------------------------------------------
@dataclass
class OfflineResult:
    benchmark: str
    split: str
    metrics: dict[str, float]
    records: list[dict[str, Any]]
    tables: dict[str, Any]
    out_dir: Path | None
    store_dir: Path | None
    headline: tuple[str, ...]
    validated_only: int | None = None


def evaluate_predictions(bench: Any, config: dict[str, Any], predictions: str | Path, *,
                         workers: int | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score ``predictions`` against ``bench`` (built from ``config``, which workers rebuild it from).

    ``usage``, when given, receives ``processes`` and ``cpu_s`` (CPU seconds of scoring per process,
    this one first): with the wall time it tells scaling apart from a machine busy with other work.
    """
    protocol = bench.protocol
    evaluator = PROTOCOLS.build_from({"type": protocol})
    evaluator.reset()
    samples = bench.sample_list()
    if protocol == "a2d":
        score_coco_results(evaluator, samples, Path(predictions))
        return evaluator.evaluate()
    files = PredictionFiles(predictions)
    required, allowed = layout_names(protocol, samples)
    prefix = files.find_prefix(required) if protocol != "ref_davis_u4" else ""
    check_files(files, prefix, required, allowed)
    videos = _videos(samples)
    workers = max(1, min(default_workers(workers), len(videos)))
    bar = tqdm(total=len(videos), desc=f"scoring {config.get('name')}", unit="video", mininterval=1.0, leave=False)
    _open_files[str(predictions)] = files  # the tasks scored in this process reuse the listing
    by_video: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_video[sample.video_id].append(sample)
    # longest videos first, so that the last tasks are short and no process waits long at the end;
    # the states are merged back in video order
    order = sorted(range(len(videos)), key=lambda k: -sum(s.num_frames for s in by_video[videos[k]]))
    states: dict[int, Any] = {}
    try:
        with bar, VideoScorer(bench, config, workers) as scorer:
            for position in order:
                scorer.submit(_score_video_files, protocol, str(predictions), prefix, videos[position], position)
                bar.update(_collect(states, scorer.results()))
            bar.update(_collect(states, scorer.results(wait=True)))
        if usage is not None:
            own = scorer.cpu_seconds.pop(os.getpid(), 0.0)
            usage.update(processes=workers, cpu_s=[round(own, 3), *(round(v, 3) for v in scorer.cpu_seconds.values())])
    finally:
        _open_files.pop(str(predictions), None)
    evaluator.merge([states[position] for position in range(len(videos))])
    return evaluator.evaluate()


def _collect(states: dict[int, Any], results: Iterator[tuple[int, Any]]) -> int:
    """Keep finished tasks' states by video position; how many there were."""
    count = len(states)
    states.update(results)
    return len(states) - count


def validate_only(bench: Any, config: Mapping[str, Any], predictions: Path) -> int:
    """A split without ground truth: check a submission zip instead of scoring it."""
    from rvosbench.metrics.submission import validate_submission

    layout = SUBMISSION_LAYOUTS.get(bench.name)
    if layout is None:
        raise PredictionError(f"{config.get('name')}/{config.get('split')} has no ground truth to score against",
                              hint="score a split with annotations")
    return validate_submission(predictions, bench.sample_list(), layout)


def _validated(config: Mapping[str, Any]) -> Any:
    bench = build(config)
    bench.validate()
    bench.sample_list()
    return bench


def external_cell_id(name: str, benchmark: str, split: str) -> str:
    """The cell id ``rvosbench eval --name`` binds a result to in the store's ``external`` study."""
    return f"{name}--{benchmark}-{split}".replace("/", "-")


def check_name_free(store: ResultStore, name: str, benchmark: str, split: str, overwrite: bool) -> None:
    """Refuse a ``--name`` that already has a result on this benchmark, unless ``--overwrite``."""
    taken = store.binding(EXTERNAL_STUDY, external_cell_id(name, benchmark, split))
    if taken is not None and not overwrite:
        raise UserError(f"'{name}' already has a result on {benchmark}/{split} in the store {store.root} "
                        f"(scored {taken.get('created')} from {taken.get('predictions') or taken.get('path')})",
                        where=f"--name {name}",
                        hint="pass --overwrite to replace it, or choose another --name")


def run_offline_eval(spec: str, predictions: str | Path, *, name: str | None = None, split: str | None = None,
                     root: str | None = None, out: str | Path | None = None, store: str | Path = "runs",
                     workers: int | None = None, overwrite: bool = False,
                     usage: dict[str, Any] | None = None) -> OfflineResult:
    """``rvosbench eval``: score, write records + summary, optionally register under ``name``.

    A ``name`` that already has a result on the benchmark is refused before anything is scored, unless
    ``overwrite``: the new result then replaces it (the index binds the name to the new cell; the old
    cell is deleted), it is never averaged with it.
    """
    config = benchmark_config(spec, split, root)
    start_early(default_workers(workers))
    bench_name, split_name = str(config.get("name")), str(config["split"])
    result_store = ResultStore(store) if name else None
    if result_store is not None:
        check_name_free(result_store, name, bench_name, split_name, overwrite)
    predictions = Path(predictions)
    bench, notes = with_data_notes(lambda: _validated(config))
    if not bench.ground_truth:
        count = validate_only(bench, config, predictions)
        return OfflineResult(bench_name, split_name, {}, [], {}, None, None, tuple(bench.metrics), validated_only=count)
    output = evaluate_predictions(bench, config, predictions, workers=workers, usage=usage)
    evaluator_version = str(getattr(PROTOCOLS.get(bench.protocol), "metric_version", "1"))
    files_digest = file_sha256(predictions) if bench.protocol == "a2d" else PredictionFiles(predictions).digest()
    label = name or predictions.name
    key = store_key({"external": label, "benchmark": config}, files_digest, bench.fingerprint(), evaluator_version)
    summary = summary_record(key=key, study=EXTERNAL_STUDY, variant=label, seed=None,
                             benchmark={**config, "protocol": bench.protocol}, metrics=output["metrics"],
                             metric_version=evaluator_version, fingerprint=bench.fingerprint(), source="external",
                             model=label, cost={"params": None, "flops": None, "latency_ms": None},
                             partial=partial_notes(bench, None, notes),
                             predictions=str(predictions.resolve()))
    files = {"samples.jsonl": jsonl_text(output["records"]),
             "tables.json": json.dumps(output.get("tables", {}), indent=2, default=str),
             "env.json": json.dumps(environment(), indent=2, default=str)}
    out_dir = Path(out) if out else (None if name else predictions.with_name(predictions.name + ".scores"))
    if out_dir is not None:
        for file_name, content in {**files, "summary.json": json.dumps(summary, indent=2, default=str)}.items():
            atomic_write_text(out_dir / file_name, content)
    store_dir = None
    if result_store is not None:
        result_store.open(lambda line: print(line, flush=True))
        cell = external_cell_id(name, bench_name, split_name)
        replaced = result_store.binding(EXTERNAL_STUDY, cell)
        store_dir = result_store.publish(summary, files)
        result_store.bind(summary, study=EXTERNAL_STUDY, cell=cell, variant=name, seed=None, source="external")
        if replaced is not None and replaced["key"] != key:
            result_store.discard_unbound(replaced["key"])
    return OfflineResult(bench_name, split_name, summary["metrics"], output["records"], output.get("tables", {}),
                         out_dir, store_dir, tuple(bench.metrics))
