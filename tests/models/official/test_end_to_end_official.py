"""From the same files to the same final masks: the authors' whole evaluation path against rvosbench's.

Each test writes one video to disk, saves the authors' model (random weights plus seeded noise) as a
release file, and runs both pipelines on them with one test tokenizer (the same token ids):

* **ReferFormer** (ResNet-50, Video-Swin-B): ``inference_ytvos.py``'s own worker, ``sub_processor``
  (PIL reading, ``T.Resize(360)``, their model loaded from ``--resume``, the query of the best mean score,
  bilinear upsampling to the original size, threshold, PNG writing), against ``rvosbench predict CARD
  --checkpoint <the same file>`` on the same JPEG folder. The only stand-ins: ``build_model(args)`` returns
  the already built model, and ``torch.cuda.set_device`` does nothing (CPU).
* **MTTR, Ref-YouTube-VOS**: their dataset's ``__getitem__`` (frames, ``RandomResize`` with the sizes of
  ``configs/refer_youtube_vos.yaml``, ``ToTensor``, ``Normalize``, lower-cased query), their ``Collator``,
  model and ``ReferYoutubeVOSPostProcess`` as ``trainer.evaluate_refer_youtube_vos`` chains them, against
  ``rvosbench predict mttr_video_swin_t --checkpoint <the same file>``.
* Control, for the three ``rvosbench predict`` tests: the same card with ``input.resample: torch_antialias``
  (rvosbench's default float resize) must give other masks, so the video tells the two resizes apart.
* **MTTR, A2D-Sentences**: their ``A2DSentencesDataset.__getitem__`` (a window of 10 frames centred on the
  annotated frame, edge frames repeated, ``configs/a2d_sentences.yaml`` sizes, the h5 ground truth for
  sizes), their ``Collator``, model with ``valid_indices`` and ``A2DSentencesPostProcess`` as
  ``trainer.evaluate_a2d_sentences`` chains them, against rvosbench's A2D-Sentences loader on the same
  files and the evaluation predictor of ``mttr_video_swin_t_a2d`` with ``eval: {clips: centred, window: 10}``:
  every query's mask and score on each annotated frame.

The authors' datasets are built without their ``__init__`` (which asserts the full datasets' sizes and
reads their metadata caches); the attributes it would set are set to the same values. Their A2D dataset
decodes an mp4 with ``torchvision.io.read_video`` (absent from torchvision 0.28): it returns the frames
that rvosbench reads from the same clip's pre-extracted PNG frames (``frames_dir``), so both sides see the
same pixels. Real sizes: about 1-3 minutes and 4 GB per test on CPU.

Run: ``RVOSBENCH_OFFICIAL_REFERFORMER=… RVOSBENCH_OFFICIAL_MTTR=… pytest -m official
tests/models/official/test_end_to_end_official.py -s``.
"""
from __future__ import annotations

import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from authors_pipelines import mttr_config, mttr_datasets, referformer_scripts, scene_frames, write_jpegs
from model_helpers import write_byte_level_tokenizer
from mttr_oracle import build_official_mttr
from official_helpers import add_noise_, checkout, import_official, max_abs_diff
from PIL import Image
from referformer_oracle import build_official_referformer

from rvosbench.cli.main import main as cli
from rvosbench.core.locate import REPO_ROOT
from rvosbench.core.plan import load_card
from rvosbench.data import build_benchmark
from rvosbench.engine.evaluation import ModelPredictor
from rvosbench.engine.session import eval_transform
from rvosbench.engine.settings import EvalSettings
from rvosbench.models import build_model
from rvosbench.models.checkpoint import load_checkpoint

pytestmark = [pytest.mark.official, pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:.*the released dataset has")]  # a one-video A2D copy, on purpose

SENTENCE = "the red ball rolling to the left"  # lower case: rvosbench lower-cases, inference_ytvos.py does not
VIDEO = "0a1b2c3d4e"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    return Path(write_byte_level_tokenizer(tmp_path_factory.mktemp("tokenizer"), SENTENCE.split()))


def read_png_masks(folder: Path, names: list[str]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(folder / f"{name}.png").convert("L")) > 127 for name in names])


def rvosbench_predict(card: str, release: Path, frames: Path, out: Path, tokenizer: Path) -> None:
    assert cli(["predict", card, "--checkpoint", str(release), "--video", str(frames), "--text", SENTENCE,
                "--out", str(out), "--set", f"text_encoder.tokenizer={tokenizer}"]) == 0


def float_resize_card(card: str, folder: Path) -> Path:
    """A copy of ``card`` that resizes with rvosbench's default float path (``torch_antialias``)."""
    path = folder / f"{card}_torch_antialias.yaml"
    base = REPO_ROOT / "models" / f"{card}.yaml"
    path.write_text(f"_base_: {base}\ncard: {{name: {card}_torch_antialias, input: {{resample: torch_antialias}}}}\n")
    return path


def assert_same_masks(card: str, release: Path, frames: Path, theirs: np.ndarray, names: list[str],
                      tokenizer: Path, tmp_path: Path) -> None:
    """The card's masks equal the authors' pixel for pixel, and the same card with float resizing does not."""
    rvosbench_predict(card, release, frames, tmp_path / "ours", tokenizer)
    differ = int((read_png_masks(tmp_path / "ours" / "masks", names) != theirs).sum())
    rvosbench_predict(str(float_resize_card(card, tmp_path)), release, frames, tmp_path / "float", tokenizer)
    float_differ = int((read_png_masks(tmp_path / "float" / "masks", names) != theirs).sum())
    print(f"\n{card}: masks {theirs.shape}, {int(theirs.sum())} pixels on in the authors', {differ} differ "
          f"(with input.resample torch_antialias: {float_differ})")
    assert 0 < theirs.sum() < theirs.size, "a trivial mask says nothing"
    assert differ == 0
    assert float_differ > 0, "the test video does not tell the authors' resize from rvosbench's default"


@pytest.mark.parametrize("card, backbone", [("referformer_r50", "resnet50"),
                                            ("referformer_video_swin_b", "video_swin_b_p4w7")])
def test_referformer_inference_ytvos_end_to_end(card, backbone, tokenizer, tmp_path, monkeypatch):
    root = checkout("RVOSBENCH_OFFICIAL_REFERFORMER")
    script = referformer_scripts(root).ytvos
    torch.manual_seed(0)
    model, args = build_official_referformer(root, backbone, tokenizer)
    add_noise_(model, seed=5)
    release = tmp_path / "release.pth"
    torch.save({"model": model.state_dict(), "epoch": 5}, release)
    images = tmp_path / "valid" / "JPEGImages"
    names = [p.stem for p in write_jpegs(scene_frames(3, 140, 190, seed=1), images / VIDEO)]

    monkeypatch.setattr(script, "build_model", lambda _: (model, None, None))
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(script, "result_dict", {}, raising=False)
    args.resume = str(release)
    data = {VIDEO: {"expressions": {"0": {"exp": SENTENCE}}, "frames": names}}
    script.sub_processor(threading.Lock(), 0, args, data, str(tmp_path / "authors"), str(tmp_path / "visual"),
                         str(images), [VIDEO])
    theirs = read_png_masks(tmp_path / "authors" / VIDEO / "0", names)

    assert_same_masks(card, release, images / VIDEO, theirs, names, tokenizer, tmp_path)


@pytest.fixture(scope="module")
def mttr(tokenizer, tmp_path_factory):
    """The authors' MTTR, its release file (their trainer's layout), and their dataset modules."""
    root = checkout("RVOSBENCH_OFFICIAL_MTTR")
    authors = build_official_mttr(root, tokenizer, seed=7)
    release = tmp_path_factory.mktemp("mttr") / "release.pth.tar"
    torch.save({"epoch": 0, "model_state_dict": authors.model.state_dict()}, release)
    with pytest.MonkeyPatch.context() as patch:
        import torchvision.io

        patch.setattr(torchvision.io, "read_video", None, raising=False)  # replaced per test below
        datasets = mttr_datasets(root)
    utils = import_official(root, "utils")
    return root, authors, release, datasets, utils


def test_mttr_refer_youtube_vos_end_to_end(mttr, tokenizer, tmp_path):
    root, authors, release, datasets, _ = mttr
    images = tmp_path / "valid" / "JPEGImages"
    names = [p.stem for p in write_jpegs(scene_frames(3, 150, 200, seed=2), images / VIDEO)]
    module = datasets.ytvos
    dataset = module.ReferYouTubeVOSDataset.__new__(module.ReferYouTubeVOSDataset)
    dataset.subset_type, dataset.videos_dir, dataset.window_size = "valid", str(images), 12
    dataset.samples_list = [(VIDEO, names, {"exp": SENTENCE.upper(), "exp_id": "0"})]  # they lower-case it
    dataset.transforms = module.A2dSentencesTransforms("valid", **mttr_config(root, "refer_youtube_vos"))
    batch = module.Collator("valid")([dataset[0]])
    samples = batch["samples"]
    with torch.no_grad():
        outputs = authors.model(samples, torch.arange(len(samples.tensors)), batch["text_queries"])
    predicted = authors.postprocessing.ReferYoutubeVOSPostProcess()(outputs, batch["videos_metadata"],
                                                                    samples.tensors.shape[-2:])
    theirs = predicted[0]["pred_masks"][:, 0].numpy().astype(bool)

    assert_same_masks("mttr_video_swin_t", release, images / VIDEO, theirs, names, tokenizer, tmp_path)


def write_a2d_video(root: Path, frames: np.ndarray, object_masks: np.ndarray, annotated: list[int]) -> None:
    """One test-split video in A2D-Sentences' layout, frames pre-extracted as PNG (``frames_dir: frames``)."""
    (root / "Release").mkdir(parents=True)
    (root / "Release" / "videoset.csv").write_text(f"{VIDEO},11,0,1,{frames.shape[1]},{frames.shape[2]},"
                                                   f"{len(frames)},{len(annotated)},1\n")
    texts = root / "text_annotations"
    texts.mkdir()
    (texts / "a2d_annotation.txt").write_text(f"video_id,instance_id,query\n{VIDEO},1,{SENTENCE}\n")
    (texts / "a2d_missed_videos.txt").write_text("")
    for frame in annotated:  # 1-based, as A2D names them; one instance: reMask is (W, H)
        path = texts / "a2d_annotation_with_instances" / VIDEO / f"{frame:05d}.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as handle:
            handle["instance"] = np.array([1.0])
            handle["reMask"] = object_masks[frame - 1].T.astype(np.uint8)
            handle["id"] = np.array([[11.0]])
    (root / "frames" / VIDEO).mkdir(parents=True)
    for index, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(root / "frames" / VIDEO / f"{index:05d}.png")


def test_mttr_a2d_sentences_end_to_end(mttr, tokenizer, tmp_path, monkeypatch):
    root, authors, release, datasets, utils = mttr
    frames = scene_frames(12, 120, 160, seed=3)
    object_masks = np.stack([np.all(f > 0, axis=-1) & (f[..., 0] > 150) & (f[..., 2] < 100) for f in frames])
    annotated = [2, 12]  # 1-based: windows of 10 repeat the first frame, and the last
    write_a2d_video(tmp_path / "a2d", frames, object_masks, annotated)

    module = datasets.a2d
    monkeypatch.setattr(module, "read_video", lambda path, pts_unit: (torch.from_numpy(frames), None, None))
    monkeypatch.setattr(np, "float", float, raising=False)  # their mask areas use np.float (NumPy < 1.24)
    dataset = module.A2DSentencesDataset.__new__(module.A2DSentencesDataset)
    dataset.subset_type, dataset.window_size = "test", 10
    dataset.videos_dir = str(tmp_path / "a2d" / "Release" / "clips320H")
    dataset.mask_annotations_dir = str(tmp_path / "a2d" / "text_annotations" / "a2d_annotation_with_instances")
    dataset.text_annotations = [(SENTENCE, VIDEO, frame, 1) for frame in annotated]
    dataset.transforms = module.A2dSentencesTransforms("test", **mttr_config(root, "a2d_sentences"))
    theirs = []
    for index in range(len(dataset)):
        batch = module.Collator()([dataset[index]])
        targets = batch["targets"]
        valid = torch.tensor([i for i, t in enumerate(targets) if None not in t])
        targets = [targets[i] for i in valid.tolist()]
        with torch.no_grad():
            outputs = authors.model(batch["samples"], valid, batch["text_queries"])
        outputs.pop("aux_outputs", None)
        outputs, targets = utils.flatten_temporal_batch_dims(outputs, targets)
        theirs += authors.postprocessing.A2DSentencesPostProcess()(
            outputs, resized_padded_sample_size=batch["samples"].tensors.shape[-2:],
            resized_sample_sizes=[t["size"] for t in targets], orig_sample_sizes=[t["orig_size"] for t in targets])

    card = load_card("mttr_video_swin_t_a2d", None)
    model = build_model({**card["model"], "text_encoder": {**card["model"]["text_encoder"], "tokenizer": str(tokenizer)}})
    load_checkpoint(model, release)
    settings = EvalSettings.from_config({"clips": "centred", "window": 10})
    predictor = ModelPredictor(model, eval_transform(card["card"], settings), settings.window, torch.device("cpu"),
                               clips=settings.clips)
    bench = build_benchmark({"type": "a2d_sentences", "root": str(tmp_path / "a2d"), "split": "test",
                             "frames_dir": "frames"})
    (sample,) = bench.sample_list()
    prediction = predictor(sample)
    for frame, authors_frame in zip(annotated, theirs):
        ours_masks = prediction.query_masks[:, frame - 1]
        their_masks = authors_frame["masks"][:, 0].numpy().astype(bool)
        scores = max_abs_diff(torch.from_numpy(prediction.query_scores[:, frame - 1]), authors_frame["scores"])
        differ = int((ours_masks != their_masks).sum())
        print(f"\nmttr_video_swin_t_a2d, annotated frame {frame}: {their_masks.shape[0]} queries, scores max |diff| "
              f"{scores:.1e}, {differ} of {their_masks.size} mask pixels differ")
        assert 0 < their_masks.sum() < their_masks.size and differ == 0 and scores == 0.0
