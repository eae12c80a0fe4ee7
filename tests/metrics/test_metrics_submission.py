"""Submission zips: both layouts, PNG format, and the validator's one-line reports."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from rvosbench.core.errors import PredictionError
from rvosbench.core.types import Prediction, Sample
from rvosbench.metrics.submission import SubmissionWriter, encode_png, validate_submission


def sample(video, exp, frames=2, size=(6, 9)):
    return Sample(benchmark="t", split="valid", video_id=video, exp_id=exp, text="x", obj_ids=[],
                  frame_names=[f"{5 * i:05d}" for i in range(frames)], annotated=[False] * frames,
                  orig_size=size)


SAMPLES = [sample("vidA", "0"), sample("vidA", "1"), sample("vidB", "0", frames=3, size=(4, 5))]


def write(path, layout, samples=SAMPLES):
    with SubmissionWriter(path, layout) as sink:
        for s in samples:
            masks = np.zeros((s.num_frames, *s.orig_size), bool)
            masks[:, 1:3, 1:3] = True
            sink(s, Prediction(masks))
    return path


@pytest.mark.parametrize("layout,prefix", [("ref_youtube_vos", "Annotations/"), ("mevis", "")])
def test_writer_layouts_and_png_content(tmp_path, layout, prefix):
    path = write(tmp_path / "sub.zip", layout)
    assert not (tmp_path / "sub.zip.partial").exists()
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        assert names[0] == f"{prefix}vidA/0/00000.png" and len(names) == 7
        image = Image.open(io.BytesIO(archive.read(f"{prefix}vidB/0/00010.png")))
        assert image.mode == "L" and image.size == (5, 4)
        pixels = np.array(image)
    assert set(np.unique(pixels)) == {0, 255} and pixels[1, 1] == 255 and pixels[0, 0] == 0
    assert validate_submission(path, SAMPLES, layout) == 7


def test_validator_names_missing_extra_and_mis_sized_files(tmp_path):
    path = write(tmp_path / "sub.zip", "mevis")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("vidC/0/00000.png", encode_png(np.zeros((6, 9), bool)))
    with pytest.raises(PredictionError) as error:
        validate_submission(path, SAMPLES, "ref_youtube_vos")          # wrong layout: nothing matches
    assert "7 missing: Annotations/vidA/0/00000.png" in str(error.value) and "8 extra" in str(error.value)

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bad, "w") as target:
        for name in source.namelist():
            if name == "vidA/1/00005.png" or name.startswith("vidC"):
                continue                                               # one missing frame
            data = source.read(name)
            if name == "vidB/0/00000.png":
                data = encode_png(np.zeros((5, 4), bool))              # transposed size
            if name == "vidB/0/00005.png":
                data = b"not a png"
            target.writestr(name, data)
    with pytest.raises(PredictionError) as error:
        validate_submission(bad, SAMPLES, "mevis")
    message = str(error.value)
    assert "1 missing: vidA/1/00005.png" in message
    assert "wrong size: vidB/0/00000.png [5x4, expected 4x5]" in message
    assert "not single-channel PNG: vidB/0/00005.png" in message
    assert "\n" not in message


def test_validator_rejects_a_non_zip_and_writer_rejects_wrong_shapes(tmp_path):
    (tmp_path / "x.zip").write_text("hello")
    with pytest.raises(PredictionError, match="cannot open"):
        validate_submission(tmp_path / "x.zip", SAMPLES, "mevis")
    with pytest.raises(PredictionError, match="expected \\(2, 6, 9\\)"):
        with SubmissionWriter(tmp_path / "y.zip", "mevis") as sink:
            sink(SAMPLES[0], Prediction(np.zeros((1, 6, 9), bool)))
    assert not (tmp_path / "y.zip").exists() and not (tmp_path / "y.zip.partial").exists()
