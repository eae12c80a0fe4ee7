"""``rvosbench eval`` end to end on hand-made fixtures: oracle = perfect, shifted = hand-computed values,
missing/extra/mis-sized files named, Ref-DAVIS indexed PNGs, A2D COCO results, server-only zips."""
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from rvosbench.cli.main import main
from rvosbench.core.errors import PredictionError
from rvosbench.core.registry import BENCHMARKS, PROTOCOLS
from rvosbench.core.types import Prediction, Sample
from rvosbench.data.base import Benchmark
from rvosbench.engine.catalog import load_catalog
from rvosbench.engine.offline_eval import benchmark_config, build, run_offline_eval
from rvosbench.metrics.a2d import A2DResultsWriter
from rvosbench.metrics.ref_davis import RefDavisWriter
from rvosbench.metrics.submission import SubmissionWriter

import davis_reference as ref

load_catalog(entry_points=False)
H, W = 16, 20
# video -> obj id -> (rows, cols, frames present); every box is h=4 x w=6, far from the right border
OBJECTS = {"vidA": {1: ((2, 6), (2, 8), [0, 1, 2]), 2: ((9, 13), (10, 16), [0, 1])},
           "vidB": {1: ((3, 7), (4, 10), [0, 1, 2])}}
EXPRESSIONS = {"vidA": {"0": 1, "1": 2}, "vidB": {"0": 1}}
FRAMES = ["00000", "00005", "00010"]


def label_maps(video):
    maps = np.zeros((len(FRAMES), H, W), np.uint8)
    for obj, ((y0, y1), (x0, x1), present) in OBJECTS[video].items():
        for t in present:
            maps[t, y0:y1, x0:x1] = obj
    return maps


def write_png(path, array, palette=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array.astype(np.uint8), mode="P" if palette else "L")
    if palette:
        image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12))
    image.save(path)


def make_ytvos(root: Path, split="train", ground_truth=True):
    videos = {}
    for video, expressions in EXPRESSIONS.items():
        (root / split / "JPEGImages" / video).mkdir(parents=True, exist_ok=True)
        for frame, labels in zip(FRAMES, label_maps(video)):
            cv2.imwrite(str(root / split / "JPEGImages" / video / f"{frame}.jpg"), np.zeros((H, W, 3), np.uint8))
            if ground_truth:
                write_png(root / split / "Annotations" / video / f"{frame}.png", labels, palette=True)
        exps = {e: ({"exp": f"object {o}", "obj_id": str(o)} if ground_truth else {"exp": f"object {o}"})
                for e, o in expressions.items()}
        videos[video] = {"expressions": exps, "frames": FRAMES}
    meta = root / "meta_expressions" / split / "meta_expressions.json"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"videos": videos}))
    if not ground_truth:
        test = root / "meta_expressions" / "test" / "meta_expressions.json"
        test.parent.mkdir(parents=True, exist_ok=True)
        test.write_text(json.dumps({"videos": {}}))
    config = root / "bench.yaml"
    config.write_text(f"type: ref_youtube_vos\nroot: {root}\nsplit: {split}\n")
    return config


def write_predictions(folder: Path, shift=0, prefix=""):
    for video, expressions in EXPRESSIONS.items():
        maps = label_maps(video)
        for exp, obj in expressions.items():
            for frame, labels in zip(FRAMES, maps):
                write_png(folder / prefix / video / exp / f"{frame}.png", np.roll(labels == obj, shift, axis=1) * 255)
    return folder


@pytest.fixture(scope="module")
def ytvos(tmp_path_factory):
    return make_ytvos(tmp_path_factory.mktemp("ytvos"))


pytestmark = pytest.mark.filterwarnings("ignore::rvosbench.data.base.DatasetCountWarning")


def test_oracle_predictions_score_perfectly(ytvos, tmp_path):
    preds = write_predictions(tmp_path / "oracle", prefix="Annotations")   # wrapper folder found automatically
    result = run_offline_eval(str(ytvos), preds, workers=1)
    assert result.metrics == {"J&F": 1.0, "J": 1.0, "F": 1.0}
    assert len(result.records) == 3
    summary = json.loads((tmp_path / "oracle.scores" / "summary.json").read_text())
    assert summary["metrics"]["J&F"] == 1.0 and summary["benchmark"] == "bench"
    lines = (tmp_path / "oracle.scores" / "samples.jsonl").read_text().splitlines()
    assert [json.loads(line)["exp_id"] for line in lines] == ["0", "1", "0"]


def test_shifted_predictions_give_the_hand_computed_values(ytvos, tmp_path):
    # a 4x6 box shifted right by 2 px: J = 4*4 / (4*8) = 0.5. Its seg2bmap boundary is the 5x7 ring
    # (20 px); with the 1-px tolerance of a 16x20 frame, the shifted ring is more than 1 px from the GT
    # ring at its right column (5 px: the 3 inner pixels and the 2 corners) and at the middle pixel of
    # its left column (the other two touch the GT's top and bottom rows): P = R = 14/20, F = 0.7.
    # Object 2 is absent from the last frame, where the (empty) prediction scores J = F = 1.
    gt = label_maps("vidA")[0] == 1
    assert ref.brute_force_f(gt, np.roll(gt, 2, axis=1), radius=1) == pytest.approx(0.7)
    preds = write_predictions(tmp_path / "shifted", shift=2)
    out = tmp_path / "scores"
    result = run_offline_eval(str(ytvos), preds, out=out, workers=2)          # two processes
    j = (0.5 + (0.5 + 0.5 + 1) / 3 + 0.5) / 3
    f = (0.7 + (0.7 + 0.7 + 1) / 3 + 0.7) / 3
    assert result.metrics["J"] == pytest.approx(j) and result.metrics["F"] == pytest.approx(f)
    assert result.metrics["J&F"] == pytest.approx((j + f) / 2)
    assert [round(r["J"], 6) for r in result.records] == [0.5, round(2 / 3, 6), 0.5]
    assert (out / "samples.jsonl").is_file() and (out / "tables.json").is_file()


def test_missing_extra_and_mis_sized_files_are_named(ytvos, tmp_path):
    preds = write_predictions(tmp_path / "broken")
    (preds / "vidA" / "1" / "00005.png").unlink()
    write_png(preds / "vidC" / "0" / "00000.png", np.zeros((H, W)))
    with pytest.raises(PredictionError) as error:
        run_offline_eval(str(ytvos), preds, workers=1)
    message = str(error.value)
    assert "1 missing (vidA/1/00005.png)" in message and "1 extra (vidC/0/00000.png)" in message
    (preds / "vidC" / "0" / "00000.png").unlink()
    write_png(preds / "vidA" / "1" / "00005.png", np.zeros((W, H)))             # transposed
    with pytest.raises(PredictionError, match="vidA/1/00005.png: mask is 20x16, the frame is 16x20"):
        run_offline_eval(str(ytvos), preds, workers=1)


def test_cli_registers_an_external_result_in_the_store(ytvos, tmp_path, capsys):
    preds = write_predictions(tmp_path / "oracle")
    store = tmp_path / "runs"
    assert main(["eval", "--benchmark", str(ytvos), "--predictions", str(preds), "--name", "oracle",
                 "--store", str(store), "--workers", "1"]) == 0
    assert "J&F 100.00" in capsys.readouterr().out
    index = [json.loads(line) for line in (store / "index.jsonl").read_text().splitlines()]
    assert index[0]["source"] == "external" and index[0]["model"] == "oracle"
    assert (store / index[0]["path"] / "samples.jsonl").is_file()
    assert main(["eval", "--benchmark", str(ytvos), "--predictions", str(tmp_path / "nope")]) == 2
    assert "prediction folder or zip not found" in capsys.readouterr().err


def test_server_only_split_validates_the_submission_zip(tmp_path, capsys):
    config = make_ytvos(tmp_path / "data", split="valid", ground_truth=False)
    with SubmissionWriter(tmp_path / "sub.zip", "ref_youtube_vos") as sink:
        for sample in run_samples(config):
            sink(sample, Prediction(np.zeros((sample.num_frames, H, W), bool)))
    assert main(["eval", "--benchmark", str(config), "--predictions", str(tmp_path / "sub.zip")]) == 0
    assert "the submission is valid (9 PNGs)" in capsys.readouterr().out


def run_samples(config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(benchmark_config(str(config))).sample_list()


# ----------------------------------------------------------------------- Ref-DAVIS and A2D layouts
class _ArrayBenchmark(Benchmark):
    """A benchmark over in-memory label maps, for protocols whose loaders other parts provide."""

    splits = ("val",)

    def validate(self) -> None:
        pass

    def annotation_files(self):
        return []

    def fingerprint(self) -> str:
        return self.name


@BENCHMARKS.register_module("test_refdavis_arrays")
class _RefDavisArrays(_ArrayBenchmark):
    name = "test_refdavis_arrays"
    protocol = "ref_davis_u4"
    metrics = ("J&F", "J", "F")

    def _build_samples(self):
        samples = []
        for video in ("vidA", "vidB"):
            maps = label_maps(video)
            for obj in sorted(OBJECTS[video]):
                for run in range(4):
                    samples.append(Sample("test_refdavis_arrays", "val", video, str(4 * (obj - 1) + run), "x",
                                          [obj], FRAMES, [True] * 3, (H, W), {"anno_id": run},
                                          load_masks_fn=lambda idx, m=maps, o=obj: m[list(idx)] == o))
        return samples


def test_ref_davis_indexed_pngs_oracle_and_swapped_ids(tmp_path):
    config = tmp_path / "davis.yaml"
    config.write_text("type: test_refdavis_arrays\nroot: .\nsplit: val\n")
    for run in range(4):
        for video in ("vidA", "vidB"):
            maps = label_maps(video)
            if run == 1 and video == "vidA":
                maps = np.where(maps == 1, 2, np.where(maps == 2, 1, 0))     # ids swapped: Hungarian undoes it
            if run == 2 and video == "vidA":
                maps = np.where(maps == 2, 0, maps)                          # object 2 missed in run 2
            for frame, labels in zip(FRAMES, maps):
                write_png(tmp_path / "preds" / f"anno_{run}" / video / f"{frame}.png", labels, palette=True)
    result = run_offline_eval(str(config), tmp_path / "preds", workers=2)
    per_run = {row["anno_id"]: row for row in result.tables["per_run"]}
    assert per_run[0]["J&F"] == 1.0 and per_run[1]["J&F"] == 1.0
    # run 2: objects vidA/1 = 1, vidA/2 = 1/3 (only its absent last frame scores), vidB/1 = 1
    assert per_run[2]["J"] == pytest.approx((1 + 1 / 3 + 1) / 3)
    assert result.metrics["J"] == pytest.approx((3 + (1 + 1 / 3 + 1) / 3) / 4)


@BENCHMARKS.register_module("test_a2d_arrays")
class _A2DArrays(_ArrayBenchmark):
    name = "test_a2d_arrays"
    protocol = "a2d"
    metrics = ("mAP", "oIoU", "mIoU")

    def _build_samples(self):
        maps = label_maps("vidA")
        return [Sample("test_a2d_arrays", "val", "vidA", str(obj), "x", [obj], FRAMES, [True, False, True], (H, W),
                       {}, load_masks_fn=lambda idx, o=obj: maps[list(idx)] == o) for obj in (1,)]


def test_a2d_coco_results_json(tmp_path):
    config = tmp_path / "a2d.yaml"
    config.write_text("type: test_a2d_arrays\nroot: .\nsplit: val\n")
    maps = label_maps("vidA")

    def rle(mask):
        encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        return {"size": encoded["size"], "counts": encoded["counts"].decode("ascii")}

    detections = []
    for t in (0, 2):
        detections.append({"image_id": f"vidA/1/{FRAMES[t]}", "category_id": 1, "segmentation": rle(maps[t] == 1), "score": 0.9})
        detections.append({"image_id": f"vidA/1/{FRAMES[t]}", "category_id": 1, "segmentation": rle(maps[t] == 2), "score": 0.2})
    path = tmp_path / "results.json"
    path.write_text(json.dumps(detections))
    result = run_offline_eval(str(config), path)
    assert result.metrics["mAP"] == pytest.approx(1.0) and result.metrics["oIoU"] == 1.0
    assert [r["frame"] for r in result.records] == ["00000", "00010"]
    path.write_text(json.dumps(detections[:2] + [{**detections[0], "image_id": "vidA/9/00000"}]))
    with pytest.raises(PredictionError, match="1 images without detections \\(vidA/1/00010\\); 1 unknown image_ids"):
        run_offline_eval(str(config), path)


def _noisy_a2d_queries(sample, rng):
    """Three noisy queries per frame; in frame 0 queries 0 and 1 tie, in frame 2 the worst one scores best."""
    truth = sample.masks()
    queries = np.stack([truth ^ (rng.uniform(size=truth.shape) < rate) for rate in (0.05, 0.3, 0.6)])
    scores = np.array([[0.8, 0.5, 0.9], [0.8, 0.9, 0.2], [0.3, 0.1, 0.95]])
    return Prediction(queries[0], scores=scores[0], query_masks=queries, query_scores=scores)


def _noisy_overlapping_objects(sample, rng):
    truth = sample.masks()
    probs = np.clip(truth * 0.7 + rng.uniform(0, 0.6, truth.shape), 0, 1).astype(np.float32)
    return Prediction(masks=probs > 0.5, probs=probs)


def _a2d_in_memory_checks(in_memory):
    assert [r["score"] for r in in_memory["records"]] == [0.8, 0.95]  # the tie goes to the later query
    assert 0.0 < in_memory["metrics"]["mIoU"] < 0.9


def _ref_davis_in_memory_checks(in_memory):
    assert 0.2 < in_memory["metrics"]["J&F"] < 0.95  # the noise makes the merge matter


@pytest.mark.parametrize("bench_type, protocol, writer, saved, predict, checks", [
    ("test_a2d_arrays", "a2d", A2DResultsWriter, "results.json",
     _noisy_a2d_queries, _a2d_in_memory_checks),
    ("test_refdavis_arrays", "ref_davis_u4", RefDavisWriter, "predictions.zip",
     _noisy_overlapping_objects, _ref_davis_in_memory_checks),
])
def test_prediction_writers_rescore_to_the_in_memory_scores(tmp_path, bench_type, protocol, writer, saved,
                                                            predict, checks):
    """What a writer streams must re-score to exactly the in-memory metrics: the A2D JSON with ties and a
    wrong query outscoring the right one, the Ref-DAVIS zip holding the evaluator's own merge."""
    config = tmp_path / "bench.yaml"
    config.write_text(f"type: {bench_type}\nroot: .\nsplit: val\n")
    samples = build({"type": bench_type, "root": ".", "split": "val"}).sample_list()
    rng = np.random.default_rng(5)
    evaluator = PROTOCOLS.build_from({"type": protocol})
    with writer(tmp_path / "predictions" / saved) as sink:
        for sample in samples:
            prediction = predict(sample, rng)
            evaluator.process(sample, prediction)
            sink(sample, prediction)
    in_memory = evaluator.evaluate()
    checks(in_memory)
    assert not list((tmp_path / "predictions").glob("*.partial"))
    rescored = run_offline_eval(str(config), tmp_path / "predictions" / saved)
    assert rescored.metrics == pytest.approx(in_memory["metrics"], abs=1e-12)
