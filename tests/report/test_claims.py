"""``rvosbench claims``: per claim and tag, the paired difference, its CI and test, and the references."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rvosbench.cli.main import main
from rvosbench.core.errors import ConfigError
from rvosbench.report.claims import claim_rows, load_claims, reference_records
from rvosbench.report.store import load_study

CLAIM = {"name": "JSC helps", "statement": "on and off", "with": "proxyformer", "without": ["no_jsc"],
         "tags": ["motion", "static"]}


@pytest.fixture
def with_references(tmp_path: Path) -> Path:
    """The toy store (first layout, migrated as a run does) plus one reference predictor with per-sample
    records: 0.3 on motion expressions, 0.5 on the others."""
    from conftest import write_legacy_store

    from rvosbench.core.store import migrate

    root = write_legacy_store(tmp_path / "runs")
    records = [json.loads(line) for line in (root / "toy/cells/proxyformer-s0--synth-test/samples.jsonl").open()]
    folder = root / "toy" / "baselines" / "colour_word--synth-test"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({
        "key": "b-colour_word", "study": "toy", "variant": "colour_word", "seed": None, "model": None, "card": None,
        "benchmark": "synth", "split": "test", "metrics": {"J&F": 0.4, "J": 0.4, "F": 0.4}, "source": "baseline"}))
    (folder / "samples.jsonl").write_text("".join(
        json.dumps({**r, "J&F": 0.3 if "motion" in r["tags"] else 0.5}) + "\n" for r in records))
    migrate(root)
    return root


def test_claim_rows_are_paired_per_video_differences(with_references):
    study = load_study("toy", with_references)
    rows = claim_rows(study, CLAIM, reference_records(study), ["colour_word"]).set_index("tag")
    assert list(rows.index) == ["all", "motion", "static"]
    records = study.records
    for tag in ("all", "motion"):
        part = records if tag == "all" else records[records["tags"].map(lambda t: tag in t)]
        per_video = {v: part[part["variant"] == v].groupby(["seed", "video_id"])["J&F"].mean()
                     .groupby("video_id").mean() for v in ("proxyformer", "no_jsc")}
        expected = (per_video["no_jsc"] - per_video["proxyformer"]).mean()
        assert rows.loc[tag, "delta"] == pytest.approx(expected)
        assert rows.loc[tag, "delta_low"] < rows.loc[tag, "delta"] < rows.loc[tag, "delta_high"]
    assert rows.loc["all", "delta"] == pytest.approx(-0.08, abs=0.03)  # the fixture's offset
    assert rows.loc["all", "p"] < 0.05 and rows.loc["all", "videos"] == 8
    assert rows.loc["motion", "colour_word"] == pytest.approx(0.3) and rows.loc["static", "colour_word"] == 0.5
    assert len(rows.loc["all", "base_seeds"]) == 2  # one mean per seed


def test_claims_command_prints_markdown(with_references, tmp_path, capsys):
    claims = tmp_path / "claims.yaml"
    claims.write_text(json.dumps({"claims": [CLAIM]}))
    out = tmp_path / "findings.md"
    assert main(["claims", "toy", "--store", str(with_references), "--claims", str(claims), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "### JSC helps" in text and "`no_jsc` against `proxyformer`" in text and "| colour_word |" in text
    assert out.read_text().strip() == text.strip()
    base, variant, delta, p, runs_ci, colour_word = text.split("| all | 8 |")[1].split("|")[:6]
    assert np.isfinite(float(p)) and np.isfinite(float(colour_word))
    low, high = (float(x) for x in runs_ci.strip().strip("[]").split(","))
    assert low <= float(delta.split("[")[0].strip("* ")) <= high  # the mean Δ lies inside the runs' interval


def test_a_claim_without_its_keys_is_a_config_error(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("claims: [{name: x, with: a}]")
    with pytest.raises(ConfigError, match="lacks"):
        load_claims(path)


def test_the_shipped_claims_name_variants_of_the_full_ablation():
    import yaml

    repo = Path(__file__).resolve().parents[2]
    variants = set(yaml.safe_load((repo / "ablations/all.yaml").read_text())["variants"])
    for claim in load_claims(repo / "reports/claims.yaml"):
        assert {claim["with"], *claim["without"]} <= variants


def test_learning_curves_average_the_validation_scores_over_seeds(with_references):
    from rvosbench.report.claims import learning_curves

    study = load_study("toy", with_references)
    text = learning_curves(study, ["motion"])
    logs = study.train_logs[study.train_logs["val/J&F"].notna()]
    expected = logs[(logs["variant"] == "no_jsc") & (logs["step"] == 200)]["val/J&F"].mean()
    row = next(line for line in text.splitlines() if line.startswith("| `no_jsc` |"))
    assert row.split("|")[-2].strip() == f"{100 * expected:.1f}"  # the last step's column
    assert "`motion`" not in text  # the toy trainings logged no per-tag curve
