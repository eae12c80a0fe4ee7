"""Confidence intervals and significance marks on constructed cases with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import write_values_study
from rvosbench.report.ablation import ablation_stats, ablation_table
from rvosbench.report.spec import load_spec
from rvosbench.core.stats import bootstrap_ci, paired_test, per_video
from rvosbench.report.store import load_study


def test_ci_of_constant_scores_is_a_point():
    assert bootstrap_ci(np.full(12, 0.42)) == (0.42, 0.42)


def test_ci_matches_the_normal_theory_interval_for_many_videos():
    values = np.random.default_rng(3).normal(0.6, 0.1, size=400)
    low, high = bootstrap_ci(values)
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)  # known large-sample answer
    assert low < values.mean() < high
    assert low == pytest.approx(values.mean() - half, abs=0.15 * half)
    assert high == pytest.approx(values.mean() + half, abs=0.15 * half)


def test_ci_narrows_with_more_videos():
    rng = np.random.default_rng(0)
    few, many = bootstrap_ci(rng.normal(0.5, 0.1, 10)), bootstrap_ci(rng.normal(0.5, 0.1, 1000))
    assert (many[1] - many[0]) < (few[1] - few[0]) / 5


def test_wilcoxon_exact_p_values():
    base = np.linspace(0.3, 0.7, 10)
    # all 10 differences positive and distinct: exact two-sided p = 2 / 2**10
    assert paired_test(base + 0.01 * np.arange(1, 11), base) == pytest.approx(2 / 2**10)
    # 5 positive differences: the smallest possible p is 2 / 2**5 = 0.0625 > 0.05
    assert paired_test(base[:5] + 0.01 * np.arange(1, 6), base[:5]) == pytest.approx(2 / 2**5)
    assert paired_test(base, base) == 1.0


def test_per_video_averages_expressions_then_seeds():
    records = pd.DataFrame({"seed": [0, 0, 0, 1], "video_id": ["a", "a", "b", "a"], "J": [0.2, 0.4, 0.9, 0.5]})
    scores = per_video(records, "J")
    assert scores["a"] == pytest.approx((0.3 + 0.5) / 2)
    assert scores["b"] == pytest.approx(0.9)


def test_marks_in_the_table_follow_the_known_answers(tmp_path):
    base = list(np.linspace(0.40, 0.76, 10))
    values = {"base": base,
              "better": [b + 0.01 * (i + 1) for i, b in enumerate(base)],  # p = 0.00195 -> †
              "mixed": [b + (0.02 if i % 2 else -0.02) for i, b in enumerate(base)],  # p = 1 -> no mark
              "same": base}
    study = load_study(write_values_study(tmp_path, values))
    spec = load_spec({"metrics": ["J&F"]}, "ablation")
    stats = ablation_stats(study, spec).set_index("variant")
    assert stats.loc["better", "p_value"] == pytest.approx(2 / 2**10)
    assert stats.loc["mixed", "p_value"] == pytest.approx(1.0)
    assert stats.loc["better", "delta"] == pytest.approx(0.055)
    table = ablation_table(study, stats.reset_index(), spec)
    delta_column = [c.label for c in table.columns].index("Δ J&F")
    marks = {row[0].text: row[delta_column].mark for row in table.rows}
    assert marks == {"base (baseline)": "", "better": "†", "mixed": "", "same": ""}
    # best value bold: only "better" has the highest mean
    value_column = [c.label for c in table.columns].index("J&F")
    assert [row[0].text for row in table.rows if row[value_column].bold] == ["better"]
