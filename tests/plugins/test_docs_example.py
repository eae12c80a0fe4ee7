"""The plug-in guide's example code works as written (docs/plugins.md, route A)."""
import re
from pathlib import Path

import numpy as np
import torch

from rvosbench.cli.main import main
from rvosbench.core.registry import MODELS

DOC = Path(__file__).resolve().parents[2] / "docs/plugins.md"


def doc_block(after_heading: str, language: str) -> str:
    text = DOC.read_text()
    section = text[text.index(after_heading):]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def test_route_a_plugin_lists_and_predicts(tmp_path: Path, capsys) -> None:
    plugin = tmp_path / "my_rival.py"
    plugin.write_text(doc_block("## A: an in-process plug-in", "python"))
    assert main(["list", "models", "centre*", "--plugin", str(plugin)]) == 0
    out = capsys.readouterr().out
    assert "centre_blob" in out and "Predicts a centred ellipse" in out
    model = MODELS.build_from({"type": "centre_blob"})
    prediction = model.predict(torch.zeros(3, 3, 8, 8), "anything", (20, 30))
    assert prediction.masks.shape == (3, 20, 30) and prediction.masks[:, 10, 15].all()
    assert not prediction.masks[:, 0, 0].any()
    assert np.isclose(prediction.masks[0].mean(), np.pi * 0.25 ** 2, atol=0.03)
