"""The report/leaderboard commands and report specs: outputs, one-line errors, file:line for bad keys."""
from __future__ import annotations

import pytest

from rvosbench.cli.main import main
from rvosbench.core.errors import ConfigError
from rvosbench.report.spec import load_spec


def test_report_command_writes_requested_formats(study_dir, tmp_path, capsys):
    assert main(["report", str(study_dir), "--out", str(tmp_path), "--formats", "md,csv"]) == 0
    printed = capsys.readouterr().out.split()
    assert str(tmp_path / "toy.md") in printed and str(tmp_path / "toy_ablation.csv") in printed
    assert not list(tmp_path.glob("*.tex")) and not list(tmp_path.glob("*.html"))


def test_leaderboard_command_prints_every_model(store, tmp_path, capsys):
    assert main(["leaderboard", "--store", str(store), "--out", str(tmp_path), "--formats", "md"]) == 0
    out = capsys.readouterr().out
    for model in ("proxyformer_tiny", "referformer_toy", "my_method"):
        assert model in out
    assert "| 61.0 | +1.0 |" in out


@pytest.mark.parametrize("argv, message", [
    (["report", "nowhere"], "nowhere: study folder not found"),
    (["leaderboard", "--store", "nowhere"], "nowhere/index.jsonl: no results index"),
])
def test_user_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a runs/ left by `make run` in the checkout would be the default store
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_unknown_format_suggests(study_dir, tmp_path, capsys):
    assert main(["report", str(study_dir), "--out", str(tmp_path), "--formats", "md,htm"]) == 2
    assert "unknown report format 'htm'" in capsys.readouterr().err


def test_spec_file_errors_point_at_the_line(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("metrics: [J&F]\nplotz: [bars]\n")
    with pytest.raises(ConfigError, match=r"spec.yaml:2 .*unknown report spec key 'plotz'.*did you mean 'plots'"):
        load_spec(path, "ablation")
    path.write_text("plots: [bars, pie]\n")
    with pytest.raises(ConfigError, match="unknown plot 'pie'"):
        load_spec(path, "ablation")


def test_spec_layers(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "ablation.yaml").write_text("decimals: 2\nalpha: 0.01\n")
    spec = load_spec(None, "ablation", study_report={"alpha": 0.1, "table": {"rows": "variant"}})
    assert spec["decimals"] == 2 and spec["alpha"] == 0.1  # the study's report: wins over the file
    assert "ignoring the study's report.table" in capsys.readouterr().err
    assert load_spec({"alpha": 0.2}, "ablation", study_report={"alpha": 0.1})["alpha"] == 0.2
    assert load_spec({}, "ablation")["decimals"] == 1  # an explicit spec skips reports/ablation.yaml
