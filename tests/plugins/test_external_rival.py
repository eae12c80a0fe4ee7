"""The subprocess-isolated rival adapter and the worked example plug-in."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rvosbench.core.plugins import load_plugin
from rvosbench.core.registry import MODELS
from rvosbench.models.external import ExternalModelError, SubprocessRival

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/external_rival"


def normalised(frames: np.ndarray, model: SubprocessRival) -> torch.Tensor:
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    return (x - model.mean) / model.std


@pytest.fixture
def red_square() -> np.ndarray:
    frames = np.full((2, 16, 24, 3), 30, np.uint8)
    frames[:, 4:8, 6:12] = (220, 40, 40)
    return frames


def test_example_plugin_segments_and_keeps_packages_apart(red_square: np.ndarray) -> None:
    load_plugin(str(EXAMPLE / "colour_rival.py"))
    model = MODELS.build_from({"type": "colour_rival"})
    try:
        prediction = model.predict(normalised(red_square, model), "the red square", (16, 24))
        expected = np.zeros((2, 16, 24), bool)
        expected[:, 4:8, 6:12] = True
        assert np.array_equal(prediction.masks, expected)
        empty = model.predict(normalised(red_square, model), "the blue circle", (32, 48))
        assert empty.masks.shape == (2, 32, 48) and not empty.masks.any()
    finally:
        model.close()
    assert "models" not in sys.modules and "util" not in sys.modules  # the rival's packages stayed out


def test_a_crash_in_the_worker_is_one_clear_error_and_the_worker_restarts(red_square: np.ndarray) -> None:
    model = SubprocessRival(repo=str(EXAMPLE / "external_repo"), worker=str(EXAMPLE / "worker.py"),
                            args=["--crash-on", "boom"])
    try:
        with pytest.raises(ExternalModelError) as info:
            model.predict(normalised(red_square, model), "boom goes the red square", (16, 24))
        assert "exited (status 3)" in str(info.value) and "simulated crash" in str(info.value)
        prediction = model.predict(normalised(red_square, model), "the red square", (16, 24))
        assert prediction.masks.sum() == 2 * 4 * 6
    finally:
        model.close()


def test_hung_worker_times_out(tmp_path: Path, red_square: np.ndarray) -> None:
    worker = tmp_path / "hang.py"
    worker.write_text("import sys, time\nsys.stdin.readline()\ntime.sleep(60)\n")
    model = SubprocessRival(repo=str(tmp_path), worker="hang.py", timeout_s=1.0)
    with pytest.raises(ExternalModelError, match="did not answer within 1 s"):
        model.predict(normalised(red_square, model), "x", (16, 24))


def test_bad_answers_are_reported(tmp_path: Path, red_square: np.ndarray) -> None:
    worker = tmp_path / "chatty.py"
    worker.write_text("import sys\nsys.stdin.readline()\nprint('loading weights...', flush=True)\n")
    model = SubprocessRival(repo=str(tmp_path), worker="chatty.py")
    with pytest.raises(ExternalModelError, match="instead of a JSON answer"):
        model.predict(normalised(red_square, model), "x", (16, 24))


def test_missing_repo_or_worker(tmp_path: Path) -> None:
    with pytest.raises(ExternalModelError, match="repository not found"):
        SubprocessRival(repo=str(tmp_path / "nope"), worker="w.py")
    with pytest.raises(ExternalModelError, match="worker script not found"):
        SubprocessRival(repo=str(tmp_path), worker="w.py")
