"""Every ablation-table number, recomputed independently from the stored per-sample records."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from rvosbench.core.errors import ConfigError, UserError
from rvosbench.report.ablation import ablation_stats, ablation_table, breakdown_tables
from rvosbench.report.spec import load_spec
from rvosbench.report.store import load_study

METRICS = ["J&F", "J", "F"]


def raw_records(study_dir: Path) -> pd.DataFrame:
    """The records straight from the files, without the report's reader (``<store>/cells/<key>/``)."""
    rows = []
    for cell in sorted((study_dir.parents[1] / "cells").iterdir()):
        summary = json.loads((cell / "summary.json").read_text())
        if summary.get("study") != study_dir.name or summary.get("source") == "baseline":
            continue
        for line in (cell / "samples.jsonl").read_text().splitlines():
            rows.append({**json.loads(line), "variant": summary["variant"], "seed": summary["seed"]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def computed(study_dir):
    study = load_study(study_dir)
    spec = load_spec({}, "ablation")
    stats = ablation_stats(study, spec)
    return study, spec, stats


def test_values_deltas_and_std_come_from_the_records(study_dir, computed):
    _, _, stats = computed
    records = raw_records(study_dir)
    assert len(stats) == 3 * len(METRICS)
    for row in stats.itertuples():
        mine = records[records["variant"] == row.variant]
        per_seed = mine.groupby("seed")[row.metric].mean()  # per-expression mean per seed
        base = records[records["variant"] == "proxyformer"].groupby("seed")[row.metric].mean()
        assert row.mean == pytest.approx(per_seed.mean(), abs=1e-12)
        assert row.std == pytest.approx(per_seed.std(ddof=1), abs=1e-12)
        assert row.delta == pytest.approx(per_seed.mean() - base.mean(), abs=1e-12)
        assert row.n_seeds == 2 and row.n_videos == 8


def test_ci_and_p_value_come_from_per_video_scores(study_dir, computed):
    _, _, stats = computed
    records = raw_records(study_dir)

    def videos(variant, metric):
        mine = records[records["variant"] == variant]
        return mine.groupby(["video_id", "seed"])[metric].mean().groupby("video_id").mean().sort_index()

    for row in stats.itertuples():
        scores = videos(row.variant, row.metric)
        assert row.video_mean == pytest.approx(scores.mean(), abs=1e-12)
        assert row.ci_low < scores.mean() < row.ci_high
        assert row.ci_high - row.ci_low < 0.1
        if row.variant == "proxyformer":
            assert np.isnan(row.p_value)
            continue
        expected = scipy_stats.wilcoxon(scores.to_numpy() - videos("proxyformer", row.metric).to_numpy()).pvalue
        assert row.p_value == pytest.approx(expected)
        assert row.significant == (expected < 0.05)
    # the fixture's no_jsc is 8 points worse on every video: significant; the others are not all worse
    assert stats.set_index(["variant", "metric"]).loc[("no_jsc", "J&F"), "significant"]


def test_table_text_matches_the_statistics(computed):
    study, spec, stats = computed
    table = ablation_table(study, stats, spec)
    labels = [f"{c.group}|{c.label}" for c in table.columns]
    by_variant = {row[0].text.replace(" (baseline)", ""): row for row in table.rows}
    for row in stats.itertuples():
        cells = by_variant[row.variant]
        value = cells[labels.index(f"{row.benchmark}|{row.metric}")]
        assert value.text == f"{100 * row.mean:.1f} ± {100 * row.std:.1f}"
        ci = cells[labels.index(f"{row.benchmark}|{row.metric} 95% CI")]
        assert ci.text == f"[{100 * row.ci_low:.1f}, {100 * row.ci_high:.1f}]"
        delta = cells[labels.index(f"{row.benchmark}|Δ {row.metric}")]
        if row.variant != "proxyformer":
            assert delta.text == f"{100 * row.delta:+.1f}".replace("-", "−")
            assert delta.mark == ("†" if row.p_value < 0.05 else "")
    for metric in METRICS:  # exactly the best mean per column is bold
        column = labels.index(f"synth/test|{metric}")
        bold = [name for name, cells in by_variant.items() if cells[column].bold]
        assert bold == [stats[stats["metric"] == metric].sort_values("mean").iloc[-1]["variant"]]
    params = labels.index("cost|Params (M)")
    assert by_variant["half_proxies"][params].text == "1.60"


def test_breakdowns_recomputed(study_dir, computed):
    study, spec, stats = computed
    records = raw_records(study_dir)
    tags, lengths = breakdown_tables(study, stats, spec)
    motion = tags.data.set_index(["variant", "group"]).loc[("no_jsc", "motion")]
    expected = records[(records["variant"] == "no_jsc") & records["tags"].map(lambda t: "motion" in t)]
    assert motion["mean"] == pytest.approx(expected.groupby("seed")["J&F"].mean().mean(), abs=1e-12)
    assert motion["n_expressions"] == 8
    assert list(dict.fromkeys(lengths.data["group"])) == ["8–12 frames", "16 frames", "24 frames"]
    long = lengths.data.set_index(["variant", "group"]).loc[("proxyformer", "24 frames")]
    expected = records[(records["variant"] == "proxyformer") & (records["num_frames"] == 24)]
    assert long["mean"] == pytest.approx(expected.groupby("seed")["J&F"].mean().mean(), abs=1e-12)


def test_spec_selects_rows_metrics_and_baseline(computed):
    study, _, _ = computed
    spec = load_spec({"variants": ["no_jsc"], "baseline": "half_proxies", "metrics": ["J"]}, "ablation")
    stats = ablation_stats(study, spec)
    assert list(stats["variant"]) == ["half_proxies", "no_jsc"] and set(stats["metric"]) == {"J"}
    assert bool(stats.set_index("variant").loc["half_proxies", "baseline"])
    with pytest.raises(ConfigError, match="variant 'nojsc'.*did you mean 'no_jsc'"):
        ablation_stats(study, load_spec({"variants": ["nojsc"]}, "ablation"))


def test_reader_errors_name_the_file(tmp_path, study_dir):
    with pytest.raises(UserError, match="study folder not found"):
        load_study(tmp_path / "missing")
    (tmp_path / "empty" / "cells").mkdir(parents=True)
    with pytest.raises(UserError, match="no finished evaluation cell"):
        load_study(tmp_path / "empty")
    broken = tmp_path / "broken" / "cells" / "a-s0--synth-test"
    broken.mkdir(parents=True)
    (broken / "summary.json").write_text(json.dumps({"variant": "a", "benchmark": "synth", "metrics": {"J&F": 1}}))
    (broken / "samples.jsonl").write_text('{"video_id": "v", "J&F": 1}\n{"video_id": \n')
    with pytest.raises(UserError, match=r"samples.jsonl:2: not valid JSON"):
        load_study(tmp_path / "broken")


def test_trivial_baselines_table(computed):
    from rvosbench.report.ablation import reference_table

    study, spec, stats = computed
    table = reference_table(study, stats, spec)
    assert [row[0].text for row in table.rows] == ["empty", "whole_frame"]
    assert [cell.text for cell in table.rows[1][1:]] == ["21.0", "21.0", "21.0"]
