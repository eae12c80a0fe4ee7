"""Offline scoring of any model's predictions (``rvosbench eval``): a folder or zip in the benchmark's
native layout, scored with the benchmark's official protocol.

Native layouts (docs/metrics.md):

* ``per_expression`` benchmarks (Ref-YouTube-VOS, MeViS, synth, Ref-DAVIS "PE"):
  ``[Annotations/]<video>/<exp_id>/<frame>.png``, one mask per frame, any nonzero pixel = object (as
  MeViS's ``eval_mevis.py`` reads them). A single wrapping folder (``valid/``, ``Annotations/``) is
  found automatically.
* ``ref_davis_u4``: ``anno_<run>/<video>/<frame>.png`` indexed PNGs (ReferFormer's output), one id per
  predicted object, 0 = background.
* ``a2d``: a COCO results JSON, ``[{"image_id", "segmentation" (RLE), "score"}, ...]`` with every
  query's mask; ``image_id`` is ``<video>/<exp_id>/<frame>`` or the sample's ``meta['image_ids'][frame]``
  (MTTR-style ids such as ``v_<video>_f_<frame>_i_<instance>``).

Any missing, extra or mis-sized prediction file is named in one PredictionError line before anything
is scored. Per-expression and Ref-DAVIS scoring runs over groups of whole videos in worker processes
(``Evaluator.state``/``merge``); the merged result equals a single-process run. Results go to
``--out`` (``summary.json``, ``samples.jsonl``, ``tables.json``) and, with ``--name``, into the result
store as an ``external`` cell (indexed like a trained model's).
"""
from __future__ import annotations

import io
import json
import multiprocessing
import os
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from tqdm import tqdm

from rvosbench.core.errors import PredictionError, UserError, image_error
from rvosbench.core.hashing import file_sha256, stable_hash
from rvosbench.core.plan import resolve_benchmark
from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.safezip import open_zip
from rvosbench.core.types import Prediction, Sample
from rvosbench.core.atomic import atomic_write_text, jsonl_text
from rvosbench.core.store import ResultStore, store_key, summary_record
from rvosbench.engine.provenance import environment
from rvosbench.engine.session import partial_notes, with_data_notes
from rvosbench.metrics.a2d import image_id, top_detection
from rvosbench.metrics.common import annotated_indices

IGNORED_PREFIXES = ("__MACOSX/",)
SUBMISSION_LAYOUTS = {"ref_youtube_vos": "ref_youtube_vos", "mevis": "mevis"}
EXTERNAL_STUDY = "external"  # the study under which ``eval --name`` results are bound


# -- the benchmark ----------------------------------------------------------------------------
def benchmark_config(spec: str, split: str | None = None, root: str | None = None) -> dict[str, Any]:
    """Resolve ``benchmarks/<name>.yaml``, a short name (``synth``) or ``name/split`` to a loader config,
    with ``--split`` and ``--root`` on top: the studies' resolver (:func:`rvosbench.core.plan.resolve_benchmark`)."""
    by_path = spec.endswith((".yaml", ".yml"))
    name, _, named_split = (spec, "", "") if by_path else spec.partition("/")
    entry = {"name": name, **({"split": split or named_split} if split or named_split else {}),
             **({"root": str(root)} if root else {})}
    _, config = resolve_benchmark(entry, None, "--benchmark")
    if by_path:  # named after its file, as benchmarks/<name>.yaml is named <name>
        config["name"] = Path(spec).stem
    return config


def build(config: Mapping[str, Any]) -> Any:
    from rvosbench.data import build_benchmark  # the engine is the layer that may import data

    return build_benchmark(dict(config), where="--benchmark")


# -- reading predictions ----------------------------------------------------------------------
class PredictionFiles:
    """Read-only view of a prediction folder or zip as ``{relative posix path: bytes}``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            self.names = sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*")
                                if p.is_file() and not p.name.startswith("."))
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            self._zip = open_zip(self.path)
            self.names = sorted(n for n in self._zip.namelist() if not n.endswith("/")
                                and not n.startswith(IGNORED_PREFIXES) and not Path(n).name.startswith("."))
        elif self.path.exists():
            raise PredictionError("predictions are neither a folder nor a zip", where=str(self.path),
                                  hint="pass the prediction folder or a zip of it")
        else:
            raise PredictionError("prediction folder or zip not found", where=str(self.path), hint="check the path")

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        return (self.path / name).read_bytes()

    def digest(self) -> str:
        """Cheap content identity: member CRCs of a zip, or names, sizes and mtimes of a folder."""
        if self._zip is not None:
            return stable_hash([(i.filename, i.CRC, i.file_size) for i in self._zip.infolist()])
        return stable_hash([(n, (self.path / n).stat().st_size, (self.path / n).stat().st_mtime_ns) for n in self.names])

    def find_prefix(self, expected: Sequence[str]) -> str:
        """The wrapping folder under which most ``expected`` names exist (``''``, ``Annotations/`` …)."""
        names = set(self.names)
        tops = {n.split("/", 1)[0] + "/" for n in self.names if "/" in n}
        candidates = ["", "Annotations/", *tops, *(t + "Annotations/" for t in tops)]
        probe = list(expected[:200])
        return max(candidates, key=lambda prefix: sum(prefix + e in names for e in probe))


def decode_png(data: bytes, where: str) -> np.ndarray:
    """A PNG's values as a 2-D integer array (palette indices for ``P`` images, max over channels)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            array = np.asarray(image)
    except (OSError, ValueError) as error:
        raise PredictionError(f"cannot decode PNG: {image_error(error)}", where=where,
                              hint="write 8-bit PNG masks") from error
    return array.max(axis=2) if array.ndim == 3 else array


def _summarise(label: str, names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return f"{len(names)} {label} ({shown}{', …' if len(names) > limit else ''})"


def check_files(files: PredictionFiles, prefix: str, required: Sequence[str], allowed: set[str]) -> None:
    """Raise one PredictionError naming missing and extra files (relative to ``prefix``)."""
    present = {n[len(prefix):] for n in files.names if n.startswith(prefix)}
    missing = [n for n in required if n not in present]
    extra = sorted(present - allowed) + sorted(n for n in files.names if not n.startswith(prefix))
    problems = [_summarise(label, names) for label, names in (("missing", missing), ("extra", extra)) if names]
    if problems:
        raise PredictionError("prediction files do not match the benchmark: " + "; ".join(problems),
                              where=f"{files.path}/{prefix}" if prefix else str(files.path),
                              hint="write one PNG per frame named <video>/<exp_id>/<frame>.png (see docs/metrics.md)")


def read_mask_stack(files: PredictionFiles, names: Sequence[str], size: Sequence[int]) -> np.ndarray:
    """Decode ``names`` to a (T, H, W) integer stack, checking each PNG's size."""
    height, width = int(size[0]), int(size[1])
    stack = np.zeros((len(names), height, width), np.uint8)
    for i, name in enumerate(names):
        where = f"{files.path}/{name}" if files.path.is_dir() else f"{files.path}:{name}"
        array = decode_png(files.read(name), where)
        if array.shape != (height, width):
            raise PredictionError(f"mask is {array.shape[0]}x{array.shape[1]}, the frame is {height}x{width}",
                                  where=where, hint="resize predictions back to the original frame size")
        stack[i] = np.minimum(array, 255)
    return stack


# -- layouts ----------------------------------------------------------------------------------
def expression_names(sample: Sample, frames: Sequence[int] | None = None) -> list[str]:
    indices = range(sample.num_frames) if frames is None else frames
    return [f"{sample.video_id}/{sample.exp_id}/{sample.frame_names[i]}.png" for i in indices]


def davis_names(run: int, sample: Sample) -> list[str]:
    return [f"anno_{run}/{sample.video_id}/{frame}.png" for frame in sample.frame_names]


def layout_names(protocol: str, samples: Sequence[Sample]) -> tuple[list[str], set[str]]:
    """(files needed to score, files allowed) for a protocol's folder layout."""
    if protocol == "ref_davis_u4":
        from rvosbench.metrics.ref_davis import sample_run

        names = sorted({n for s in samples for n in davis_names(sample_run(s), s)})
        return names, set(names)
    required = [n for s in samples for n in expression_names(s, [i for i, a in enumerate(s.annotated) if a])]
    return required, {n for s in samples for n in expression_names(s)}


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
    for sample in samples:
        scored = [i for i, a in enumerate(sample.annotated) if a]
        masks = np.zeros((sample.num_frames, *sample.orig_size), bool)
        names = [prefix + n for n in expression_names(sample, scored)]
        masks[scored] = read_mask_stack(files, names, sample.orig_size) > 0
        evaluator.process(sample, Prediction(masks))


def _videos(samples: Sequence[Sample]) -> list[str]:
    return list(dict.fromkeys(s.video_id for s in samples))


def _score_shard(config: dict[str, Any], protocol: str, predictions: str, prefix: str, videos: list[str]) -> Any:
    """Worker: rebuild the benchmark, score the given videos, return the evaluator's state."""
    cv2.setNumThreads(1)
    keep = set(videos)
    samples = [s for s in build(config).sample_list() if s.video_id in keep]
    evaluator = PROTOCOLS.build_from({"type": protocol})
    evaluator.reset()
    score_videos(protocol, evaluator, samples, PredictionFiles(predictions), prefix)
    return evaluator.state()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- A2D / JHMDB ------------------------------------------------------------------------------
def score_coco_results(evaluator: Any, samples: Sequence[Sample], path: Path) -> None:
    """Feed a COCO results JSON to the ``a2d`` protocol (every detection of each annotated frame)."""
    try:
        detections = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PredictionError(f"cannot read the COCO results JSON: {error}", where=str(path),
                              hint="pass the JSON list written by the model's A2D evaluation") from error
    if not isinstance(detections, list):
        raise PredictionError("COCO results must be a JSON list of detections", where=str(path))
    by_image: dict[str, list[tuple[dict[str, Any], float]]] = defaultdict(list)
    for index, det in enumerate(detections):
        if not isinstance(det, dict) or not {"image_id", "segmentation", "score"} <= set(det):
            raise PredictionError(f"detection {index} lacks image_id, segmentation or score", where=str(path),
                                  hint='each entry is {"image_id", "category_id", "segmentation": RLE, "score"}')
        rle = dict(det["segmentation"])
        if isinstance(rle.get("counts"), str):
            rle["counts"] = rle["counts"].encode("ascii")
        by_image[str(det["image_id"])].append((rle, float(det["score"])))
    units = []
    for sample in samples:
        units.extend((sample, frame, image_id(sample, frame)) for frame in annotated_indices(sample))
    expected = {unit_id for _, _, unit_id in units}
    missing = [u for _, _, u in units if u not in by_image]
    extra = sorted(set(by_image) - expected)
    problems = [_summarise(label, names) for label, names in (("images without detections", missing),
                                                             ("unknown image_ids", extra)) if names]
    if problems:
        raise PredictionError("COCO results do not match the benchmark: " + "; ".join(problems), where=str(path),
                              hint="image_id is <video>/<exp_id>/<frame> (or the dataset's own id, see docs/metrics.md)")
    for sample, frame, unit_id in tqdm(units, desc="a2d units", unit="frame", mininterval=1.0, leave=False):
        gt = sample.masks([frame])[0]
        every = by_image[unit_id]
        best = top_detection([score for _, score in every])
        top = mask_utils.decode(every[best][0]).astype(bool)
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
                         workers: int | None = None) -> dict[str, Any]:
    """Score ``predictions`` against ``bench`` (built from ``config``, which workers rebuild it from)."""
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
    workers = max(1, min(workers or min(4, os.cpu_count() or 1), len(videos)))
    bar = tqdm(total=len(videos), desc=f"scoring {config.get('name')}", unit="video", mininterval=1.0, leave=False)
    with bar:
        if workers == 1:
            by_video: dict[str, list[Sample]] = defaultdict(list)
            for sample in samples:
                by_video[sample.video_id].append(sample)
            for video in videos:
                score_videos(protocol, evaluator, by_video[video], files, prefix)
                bar.update(1)
        else:
            size = max(1, min(16, len(videos) // (4 * workers) or 1))
            context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                chunks = list(_chunks(videos, size))
                futures = [pool.submit(_score_shard, dict(config), protocol, str(predictions), prefix, chunk)
                           for chunk in chunks]
                states = []
                for chunk, future in zip(chunks, futures):
                    states.append(future.result())
                    bar.update(len(chunk))
            evaluator.merge(states)
    return evaluator.evaluate()


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
                     workers: int | None = None, overwrite: bool = False) -> OfflineResult:
    """``rvosbench eval``: score, write records + summary, optionally register under ``name``.

    A ``name`` that already has a result on the benchmark is refused before anything is scored, unless
    ``overwrite``: the new result then replaces it (the index binds the name to the new cell; the old
    cell is deleted), it is never averaged with it.
    """
    config = benchmark_config(spec, split, root)
    bench_name, split_name = str(config.get("name")), str(config["split"])
    result_store = ResultStore(store) if name else None
    if result_store is not None:
        check_name_free(result_store, name, bench_name, split_name, overwrite)
    predictions = Path(predictions)
    bench, notes = with_data_notes(lambda: _validated(config))
    if not bench.ground_truth:
        count = validate_only(bench, config, predictions)
        return OfflineResult(bench_name, split_name, {}, [], {}, None, None, tuple(bench.metrics), validated_only=count)
    output = evaluate_predictions(bench, config, predictions, workers=workers)
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
