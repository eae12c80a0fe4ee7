"""``rvosbench predict``: masks and an overlay for your own frames folder or video file."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from rvosbench.cli.main import main
from rvosbench.engine.predict import MIN_OVERLAY_WIDTH, caption_lines, overlay
from rvosbench.models.checkpoint import save_checkpoint
from tests.engine.toys import ToyModel, toy_video

HERE = Path(__file__).resolve().parent


@pytest.fixture
def card_and_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    card = tmp_path / "toy_card.yaml"
    card.write_text("card:\n  name: toy_card\n  input: {num_frames: 3, short_side: 16, max_size: 16,"
                    " mean: [0, 0, 0], std: [1, 1, 1]}\nmodel: {type: engine_toy, hidden: 4}\n")
    torch.manual_seed(0)
    model = ToyModel(hidden=4)
    with torch.no_grad():  # a hand-set "red detector": logit = 20 * (red - green - 0.5)
        model.backbone.weight.zero_()
        model.backbone.bias.zero_()
        model.backbone.weight[0, :, 0, 0] = torch.tensor([1.0, -1.0, 0.0])
        model.rest.weight.zero_()
        model.rest.weight[0, 0, 0, 0] = 20.0
        model.rest.bias.fill_(-10.0)
    return card, save_checkpoint(model, tmp_path / "toy.pt")


def predict(card: Path, checkpoint: Path, video: Path, out: Path, *extra: str) -> int:
    return main(["predict", str(card), "--checkpoint", str(checkpoint), "--video", str(video), "--text",
                 "The red square", "--out", str(out), "--plugin", str(HERE / "toy_plugin.py"), *extra])


def test_predict_on_a_frames_folder(tmp_path: Path, card_and_checkpoint) -> None:
    card, checkpoint = card_and_checkpoint
    frames, masks = toy_video(7, frames=4)
    folder = tmp_path / "frames"
    folder.mkdir()
    for t, frame in enumerate(frames):  # natural order: 2 before 10
        Image.fromarray(frame).save(folder / f"{[10, 2, 33, 4][t]}.png")
    assert predict(card, checkpoint, folder, tmp_path / "out", "--window", "3") == 0
    order = np.argsort([10, 2, 33, 4])
    for rank, t in enumerate(order):
        written = np.asarray(Image.open(tmp_path / "out/masks" / f"{[10, 2, 33, 4][t]}.png")) > 0
        assert np.array_equal(written, masks[t]), rank
    info = json.loads((tmp_path / "out/prediction.json").read_text())
    assert info["frames"] == ["2", "4", "10", "33"] and info["text"] == "The red square"
    gif = Image.open(tmp_path / "out/overlay.gif")
    assert gif.n_frames == 4 and gif.size[0] == 320 and gif.size[1] > 320  # enlarged 20x, caption strip on top


def test_overlay_enlarges_small_videos_and_wraps_the_caption() -> None:
    frames, masks = toy_video(3, frames=2)
    text = "the small red square that moves to the left of the large blue circle and then stops " * 2
    images = overlay(frames, masks, text)
    width, height = images[0].size
    assert width == MIN_OVERLAY_WIDTH and height > width
    strip = height - width
    measure = ImageDraw.Draw(images[0])
    lines = caption_lines(measure, text, width - 8)
    assert len(lines) > 1 and " ".join(lines) == " ".join(text.split())
    assert all(measure.textlength(line) <= width - 8 for line in lines)
    picture = np.asarray(images[0])[strip:]
    scale = width // frames.shape[2]
    outside = ~np.kron(masks[0], np.ones((scale, scale), dtype=bool))
    unmasked = outside.copy()
    unmasked[1:-1, 1:-1] &= outside[:-2, 1:-1] & outside[2:, 1:-1] & outside[1:-1, :-2] & outside[1:-1, 2:]
    enlarged = np.kron(frames[0], np.ones((scale, scale, 1), dtype=np.uint8))
    assert np.array_equal(picture[unmasked], enlarged[unmasked])  # away from the mask and its outline


def test_predict_on_a_video_file_and_clear_errors(tmp_path: Path, card_and_checkpoint, capsys) -> None:
    card, checkpoint = card_and_checkpoint
    frames, _ = toy_video(8, frames=5)
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (16, 16))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    assert predict(card, checkpoint, path, tmp_path / "out", "--format", "mp4") == 0
    assert len(list((tmp_path / "out/masks").glob("*.png"))) == 5 and (tmp_path / "out/overlay.mp4").stat().st_size
    assert predict(card, checkpoint, tmp_path / "missing.mp4", tmp_path / "o2") == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert predict(card, checkpoint, empty, tmp_path / "o3") == 2
    err = capsys.readouterr().err
    assert "video not found" in err and "no image files in the folder" in err


@pytest.mark.parametrize("object_rgb", [(220, 20, 20), (20, 200, 230), (240, 220, 10)])
def test_overlay_tint_contrasts_with_the_object(object_rgb) -> None:
    """A red object is not tinted red (nor a cyan one cyan): the tint is far from the object's colour."""
    from rvosbench.engine.predict import contrast_colour

    frames = np.full((2, 40, 40, 3), 128, np.uint8)
    frames[:, 10:30, 10:30] = object_rgb
    masks = np.zeros((2, 40, 40), bool)
    masks[:, 10:30, 10:30] = True
    tint = contrast_colour(frames, masks)
    assert np.abs(tint - np.array(object_rgb)).max() > 150
    image = np.asarray(overlay(frames, masks, "the object")[0])
    height = image.shape[0]
    centre = image[height - 160, 160].astype(int)  # inside the enlarged mask, below the caption strip
    assert np.abs(centre - np.array(object_rgb)).sum() > 120
