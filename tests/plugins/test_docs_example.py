"""The plug-in guide's example code works as written (docs/plugins.md, route A)."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rvosbench.cli.main import main
from rvosbench.core.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs/plugins.md"


def doc_block(after_heading: str, language: str) -> str:
    text = DOC.read_text()
    section = text[text.index(after_heading):]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guide's plug-in file, written once: a file registers its names once per process."""
    path = tmp_path_factory.mktemp("plugin") / "my_rival.py"
    path.write_text(doc_block("## A: an in-process plug-in", "python"))
    return path


def test_route_a_plugin_lists_and_predicts(plugin: Path, capsys) -> None:
    assert main(["list", "models", "centre*", "--plugin", str(plugin)]) == 0
    out = capsys.readouterr().out
    assert "centre_blob" in out and "Predicts a centred ellipse" in out
    model = MODELS.build_from({"type": "centre_blob"})
    prediction = model.predict(torch.zeros(3, 3, 8, 8), "anything", (20, 30))
    assert prediction.masks.shape == (3, 20, 30) and prediction.masks[:, 10, 15].all()
    assert not prediction.masks[:, 0, 0].any()
    assert np.isclose(prediction.masks[0].mean(), np.pi * 0.25 ** 2, atol=0.03)


def test_route_a_rival_in_a_rivals_study_and_on_the_leaderboard(plugin: Path, tmp_path: Path, monkeypatch,
                                                                 capsys) -> None:
    """Follow the guide: plug-in file, model card, a study extending rivals.yaml, run, leaderboard."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_rival.py").symlink_to(plugin)
    (tmp_path / "models").mkdir()
    (tmp_path / "models/centre_blob.yaml").write_text(doc_block("A model card, `models/centre_blob.yaml`", "yaml"))
    study = doc_block("Then add it to a study as one more variant", "yaml")
    study = study.replace("_base_: rivals.yaml", f"_base_: {REPO / 'ablations/rivals.yaml'}")
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations/my_rivals.yaml").write_text(study)
    synth = f"{{name: synth, split: test, root: {tmp_path / 'synth'}, videos: {{train: 2, val: 1, test: 3, compositional: 1}}}}"
    args = ["ablations/my_rivals.yaml", "--only", "centre_blob", "--set", f"benchmarks=[{synth}]"]
    assert main(["show", *args[:1]]) == 0
    assert "centre_blob-s0--synth-test" in capsys.readouterr().out
    assert main(["run", *args, "--out", "runs", "--no-report", "--baselines", "none"]) == 0
    out = capsys.readouterr().out
    assert "centre_blob" in out and "train" not in out.split("centre_blob", 1)[1].split("\n", 1)[0]
    assert main(["leaderboard", "--store", "runs", "--out", str(tmp_path / "lb")]) == 0
    assert "centre_blob" in capsys.readouterr().out
