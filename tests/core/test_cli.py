"""The CLI surface: list, show, --diff, and one-line errors with exit status 2."""
import subprocess
import sys
from pathlib import Path

import pytest

from rvosbench.cli.main import main

PLUGIN = '''
from rvosbench.core.registry import BENCHMARKS, MODELS

@MODELS.register_module(name="cli_test_net")
class CliTestNet:
    """A test network for the CLI tests."""

MODELS.register_variant("cli_test_net.small", "cli_test_net", {"hidden": 8}, "cli_test_net, small")

@BENCHMARKS.register_module(name="cli_test_bench")
class CliTestBench:
    """A test benchmark for the CLI tests."""
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One folder per module: a plug-in file registers its names once per process.
    tmp_path = tmp_path_factory.mktemp("cli")
    (tmp_path / "plugin.py").write_text(PLUGIN)
    (tmp_path / "models").mkdir()
    (tmp_path / "models/net.yaml").write_text("card: {name: net}\nmodel: {type: cli_test_net, hidden: 16}\n")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks/tb.yaml").write_text("type: cli_test_bench\nroot: x\nsplit: test\n")
    (tmp_path / "study.yaml").write_text(
        "name: clitest\nplugins: [plugin.py]\nmodel: {card: net}\ntrain: {benchmark: tb/test}\nbenchmarks: [tb/test]\n"
        "variants:\n  base: {}\n  small: {model: {type: cli_test_net.small}}\n"
    )
    return tmp_path


def test_show_expands_the_plan(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["show", str(project / "study.yaml")]) == 0
    out = capsys.readouterr().out
    assert "study clitest" in out and "training cells (2)" in out and "evaluation cells (2)" in out
    assert "small-s0--tb-test" in out


def test_show_cells_prints_configs(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["show", str(project / "study.yaml"), "--cells", "--set", "model.hidden=4"]) == 0
    assert "hidden: 4" in capsys.readouterr().out


def test_list_with_plugin_and_wildcard(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "models", "cli_test_net*", "--plugin", str(project / "plugin.py")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "cli_test_net" and "A test network" in lines[0]
    assert lines[1].startswith("cli_test_net.small")


def test_show_diff(project: Path, capsys: pytest.CaptureFixture) -> None:
    other = project / "other.yaml"
    other.write_text("_base_: study.yaml\nname: other\n")
    assert main(["show", str(project / "study.yaml"), str(other), "--diff"]) == 0
    out = capsys.readouterr().out
    assert "-name: clitest" in out and "+name: other" in out


@pytest.mark.parametrize("argv, expected", [
    (["list", "modles"], "unknown kind 'modles'"),
    (["list", "models", "zzz_nothing*"], "no models match"),
    (["show", "missing.yaml"], "missing.yaml: file not found"),
    (["show", "STUDY", "--set", "train.nope=1"], "unknown key 'train.nope'"),
    (["show", "STUDY", "--set", "variants.small.model.type=cli_test_nett"], "unknown model 'cli_test_nett'"),
])
def test_user_errors_are_one_line_with_status_2(project: Path, capsys: pytest.CaptureFixture,
                                                 argv: list, expected: str) -> None:
    argv = [a.replace("STUDY", str(project / "study.yaml")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rvosbench: error:") and expected in err


def test_unknown_model_did_you_mean(project: Path, capsys: pytest.CaptureFixture) -> None:
    study = project / "typo.yaml"
    study.write_text("_base_: study.yaml\nvariants: {small: {model: {type: cli_test_ne}}}\n")
    assert main(["show", str(study)]) == 2
    assert "did you mean 'cli_test_net'" in capsys.readouterr().err


def test_console_script_exit_status_and_debug_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1\n")
    exe = Path(sys.executable).with_name("rvosbench")
    plain = subprocess.run([str(exe), "show", str(bad)], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert f"{bad}:2" in plain.stderr and "YAML syntax error" in plain.stderr
    debug = subprocess.run([str(exe), "show", str(bad), "--debug"], capture_output=True, text=True, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_jobs_only_patterns_match_exactly_their_cell():
    """``run --jobs`` hands each job its cells as ``--only`` patterns: fnmatch's wildcards in a name
    must match themselves, nothing else."""
    import fnmatch

    from rvosbench.cli.jobs import literal_pattern

    name = "model[v2]*?-s0"
    assert fnmatch.fnmatchcase(name, literal_pattern(name))
    assert not fnmatch.fnmatchcase("modelv-s0", literal_pattern(name))
    assert not fnmatch.fnmatchcase("model[v2]xy-s0", literal_pattern(name))


def test_jobs_get_their_own_threads_bar_line_and_gpu(monkeypatch):
    from rvosbench.cli.jobs import job_environment

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    env = job_environment(3, "2", gpus=2)
    assert env["OMP_NUM_THREADS"] == "2" and env["RVOSBENCH_BAR_POSITION"] == "3"
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["RVOSBENCH_JOBS"] == "1"
    assert "CUDA_VISIBLE_DEVICES" not in job_environment(0, "1", gpus=0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    assert job_environment(1, "1", gpus=2)["CUDA_VISIBLE_DEVICES"] == "5"  # the user's choice stands
