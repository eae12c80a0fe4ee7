"""The rival cards' evaluation transform gives the authors' input tensors, bit for bit.

The authors' own transform objects are imported from the checkouts and run on the same frames:
ReferFormer's ``inference_ytvos.py`` / ``inference_davis.py`` module-level ``transform``
(``T.Resize(360)`` → ``ToTensor`` → ``Normalize`` on PIL images) and its A2D/JHMDB ``make_coco_transforms
('val')`` (DETR-style ``RandomResize([360], max_size=640)``), and MTTR's dataset transforms
(``RandomResize([eval_short_size], max_size=eval_max_size)`` → ``ToTensor`` → ``Normalize``) with the sizes
of its ``configs/*.yaml``. Frame sizes cover landscape and portrait, odd sizes, upscaling, frames already
at size, and both sides of each ``max_size`` cap. The frames are stored as JPEG files and decoded by each
side as it does (PIL for the authors, rvosbench's default OpenCV decoder for us).

Run: ``RVOSBENCH_OFFICIAL_REFERFORMER=… RVOSBENCH_OFFICIAL_MTTR=… pytest -m official
tests/models/official/test_inputs_official.py -s`` (seconds, no model is built).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from authors_pipelines import (mttr_config, mttr_datasets, referformer_datasets, referformer_scripts, scene_frames,
                               write_jpegs)
from official_helpers import checkout, max_abs_diff
from PIL import Image

from rvosbench.core.plan import load_card
from rvosbench.data.io import read_rgb
from rvosbench.data.transforms import eval_transform, resized_size

pytestmark = pytest.mark.official

# (H, W) of original frames; comments give what the resize does with short side 360 / 320 and the cap
UNCAPPED = [(720, 1280), (1280, 720), (301, 457), (457, 301), (97, 151), (480, 854), (360, 641), (359, 640)]
CAP_640 = [(320, 427), (320, 569), (320, 570),  # A2D clips320H: upscaled to short side 360 / capped at 640
           (400, 1000), (1000, 400),          # capped: short side round(640 · 400 / 1000) = 256
           (361, 642),                        # capped to a short side of 360 again (no-op rounding edge)
           (720, 1280), (241, 435)]           # exactly at the cap (640.0, not above) / odd
CAP_576 = [(320, 427), (320, 569),            # short side already 320: left as is
           (240, 432), (241, 435),            # exactly at the cap (576.0) / just above: short side 319
           (320, 640), (640, 320), (480, 854), (97, 151)]


def decoded_pair(tmp_path, height: int, width: int, count: int = 2) -> tuple[list[Image.Image], np.ndarray]:
    """The same JPEG frames decoded the authors' way (PIL ``open().convert('RGB')``) and ours (read_rgb)."""
    paths = write_jpegs(scene_frames(count, height, width, seed=height * 7 + width), tmp_path / f"{height}x{width}")
    theirs = [Image.open(p).convert("RGB") for p in paths]
    ours = np.stack([read_rgb(p) for p in paths])
    assert np.array_equal(np.stack([np.asarray(image) for image in theirs]), ours), "the JPEG decoders differ"
    return theirs, ours


def compare(card: str, frames: np.ndarray, expected: torch.Tensor, label: str) -> None:
    """Ours (the card's ``input``, then the default resampler for the record) against the authors' tensors."""
    spec = load_card(card, None)["card"]["input"]
    got = eval_transform(spec)(frames)
    float_path = eval_transform({**spec, "resample": "torch_antialias"})(frames)
    default_diff = max_abs_diff(float_path, expected) if float_path.shape == expected.shape else float("nan")
    print(f"{label} {tuple(frames.shape[1:3])} -> {tuple(expected.shape[-2:])}: max |ours - authors'| "
          f"{max_abs_diff(got, expected):.1e} (pil_bilinear), {default_diff:.1e} (torch_antialias)")
    assert got.shape == expected.shape and torch.equal(got, expected)


@pytest.fixture(scope="module")
def referformer(monkeypatch_module):
    root = checkout("RVOSBENCH_OFFICIAL_REFERFORMER")
    return referformer_scripts(root), referformer_datasets(root)


@pytest.fixture(scope="module")
def mttr(monkeypatch_module):
    root = checkout("RVOSBENCH_OFFICIAL_MTTR")
    return root, mttr_datasets(root)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        import torchvision.io

        patch.setattr(torchvision.io, "read_video", None, raising=False)  # imported by their A2D/JHMDB datasets
        yield patch


@pytest.mark.parametrize("height, width", UNCAPPED)
def test_referformer_inference_ytvos_and_davis_transforms(referformer, tmp_path, height, width):
    theirs, ours = decoded_pair(tmp_path, height, width)
    scripts, _ = referformer
    for script in (scripts.ytvos, scripts.davis):
        expected = torch.stack([script.transform(image) for image in theirs])
        compare("referformer_r50", ours, expected, f"ReferFormer {script.__name__}")
    assert load_card("referformer_video_swin_b", None)["card"]["input"] == load_card("referformer_r50", None)["card"]["input"]


@pytest.mark.parametrize("height, width", CAP_640)
def test_referformer_a2d_and_jhmdb_transforms(referformer, tmp_path, height, width):
    theirs, ours = decoded_pair(tmp_path, height, width)
    _, datasets = referformer
    for dataset in (datasets.a2d, datasets.jhmdb):
        clip, _ = dataset.make_coco_transforms("val", max_size=640)(theirs, None)
        compare("referformer_video_swin_b_a2d", ours, torch.stack(clip), f"ReferFormer {dataset.__name__}")


@pytest.mark.parametrize("height, width", CAP_640)
def test_mttr_refer_youtube_vos_transforms(mttr, tmp_path, height, width):
    root, datasets = mttr
    config = mttr_config(root, "refer_youtube_vos")
    theirs, ours = decoded_pair(tmp_path, height, width)
    transforms = datasets.ytvos.A2dSentencesTransforms("valid", **config)
    expected, _, _ = transforms(theirs, [None] * len(theirs), "a dog")
    card = load_card("mttr_video_swin_t", None)["card"]["input"]
    assert (card["short_side"], card["max_size"]) == (config["eval_short_size"], config["eval_max_size"])
    compare("mttr_video_swin_t", ours, expected, "MTTR refer_youtube_vos")


@pytest.mark.parametrize("height, width", CAP_576)
def test_mttr_a2d_and_jhmdb_transforms(mttr, tmp_path, height, width):
    root, datasets = mttr
    theirs, ours = decoded_pair(tmp_path, height, width)
    card = load_card("mttr_video_swin_t_a2d", None)["card"]["input"]
    for name, module in (("a2d_sentences", datasets.a2d), ("jhmdb_sentences", datasets.jhmdb)):
        config = mttr_config(root, name)
        assert (card["short_side"], card["max_size"]) == (config["eval_short_size"], config["eval_max_size"])
        transforms = module.A2dSentencesTransforms("test", **config)  # JHMDB imports A2D's
        expected, _, _ = transforms(theirs, [None] * len(theirs), "a dog")
        compare("mttr_video_swin_t_a2d", ours, expected, f"MTTR {name}")


def authors_output_size(module, clips: bool, height: int, width: int, short: int, longest: int) -> tuple[int, int]:
    """The (H, W) the authors' ``resize`` asks ``F.resize`` for (stubbed to return it): ReferFormer's
    ``transforms_video.resize`` takes a clip (a list of images), MTTR's ``transforms.resize`` one image."""
    image = SimpleNamespace(size=(width, height))  # PIL's (W, H)
    resized, _ = module.resize([image] if clips else image, None, short, longest)
    return tuple(resized[0] if clips else resized)


def test_output_sizes_equal_the_authors_for_every_frame_size_up_to_1000_px(referformer, mttr, monkeypatch):
    """Every (H, W) in 1..1000: the authors' size rules (DETR's ``get_size_with_aspect_ratio`` in ReferFormer's
    ``transforms_video`` and MTTR's ``transforms``, torchvision's ``Resize(360)``) against ``resized_size``."""
    from torchvision.transforms.functional import _compute_resized_output_size

    _, referformer_modules = referformer
    _, mttr_modules = mttr
    rules = [("ReferFormer transforms_video", referformer_modules.a2d.T, True, 360, 640),
             ("MTTR datasets/transforms", mttr_modules.a2d.T, False, 360, 640),
             ("MTTR datasets/transforms", mttr_modules.a2d.T, False, 320, 576)]
    sizes = [(h, w) for h in range(1, 1001) for w in range(1, 1001)]
    for name, module, clips, short, longest in rules:
        monkeypatch.setattr(module, "F", SimpleNamespace(resize=lambda image, size: size))  # sizes only, no pixels
        wrong = [(h, w) for h, w in sizes
                 if authors_output_size(module, clips, h, w, short, longest) != resized_size(h, w, short, longest)]
        print(f"{name} {short}/{longest}: {len(sizes) - len(wrong)} of {len(sizes)} sizes equal")
        assert wrong == []
    wrong = [(h, w) for h, w in sizes if tuple(_compute_resized_output_size((h, w), [360])) != resized_size(h, w, 360, None)]
    print(f"torchvision Resize(360) (inference_ytvos.py): {len(sizes) - len(wrong)} of {len(sizes)} sizes equal")
    assert wrong == []
