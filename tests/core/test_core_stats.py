"""Bootstrap CI and paired test (core.stats): coverage, determinism, degenerate inputs, alignment."""
import numpy as np
import pytest

from rvosbench.core.stats import align, bootstrap_ci, paired_test, per_video


def test_bootstrap_ci_brackets_the_mean_and_is_deterministic():
    values = np.random.default_rng(0).random(40)
    low, high = bootstrap_ci(values, n_boot=2000, seed=3)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values, n_boot=2000, seed=3)
    # a wider level gives a wider interval; the normal-theory half width is the right order of magnitude
    low99, high99 = bootstrap_ci(values, n_boot=2000, seed=3, level=0.99)
    assert low99 < low and high99 > high
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert 0.7 * half < (high - low) / 2 < 1.3 * half


def test_bootstrap_ci_degenerate_inputs():
    assert bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    assert bootstrap_ci([0.25]) == (0.25, 0.25)
    assert bootstrap_ci([0.5, float("nan"), 0.5]) == (0.5, 0.5)
    assert all(np.isnan(bootstrap_ci([])))
    with pytest.raises(ValueError):
        bootstrap_ci([0.1, 0.2], level=1.5)


def test_paired_test_detects_consistent_shift_but_not_noise():
    rng = np.random.default_rng(1)
    a = rng.random(30)
    assert paired_test(a, a + 0.01) < 1e-6          # every video better: significant
    assert paired_test(a, a) == 1.0                 # identical
    assert paired_test(a, a + rng.normal(0, 0.1, 30)) > 0.05
    with pytest.raises(ValueError):
        paired_test([0.1, 0.2], [0.1])


def test_align_by_video_averages_per_video_and_keeps_common_videos():
    ra = [{"video_id": "v1", "J&F": 0.2}, {"video_id": "v1", "J&F": 0.4}, {"video_id": "v2", "J&F": 1.0},
          {"video_id": "v3", "J&F": 0.5}]
    rb = [{"video_id": "v2", "J&F": 0.5}, {"video_id": "v1", "J&F": 0.1}]
    assert per_video(ra, "J&F").to_dict() == pytest.approx({"v1": 0.3, "v2": 1.0, "v3": 0.5})
    a, b, videos = align(per_video(ra, "J&F"), per_video(rb, "J&F"))
    assert videos == ["v1", "v2"]
    assert a == pytest.approx([0.3, 1.0]) and b == pytest.approx([0.1, 0.5])


def test_seed_video_interval_widens_when_the_seeds_disagree():
    """Two of three runs of the variant learn a type and one does not: the video-only interval (seeds
    averaged first) excludes 0, the interval that resamples seeds too does not; with runs that agree,
    both intervals exclude 0."""
    import pandas as pd

    from rvosbench.core.stats import bootstrap_ci, per_seed_video, seed_video_delta_ci

    rng = np.random.default_rng(1)
    videos = [f"v{i}" for i in range(40)]

    def table(run_means):
        rows = [{"seed": s, "video_id": v, "J&F": m + 0.02 * rng.standard_normal()}
                for s, m in enumerate(run_means) for v in videos]
        return per_seed_video(pd.DataFrame(rows), "J&F")

    base = table([0.60, 0.60, 0.60])
    split = table([0.95, 0.95, 0.45])          # the runs disagree
    agree = table([0.70, 0.71, 0.69])
    video_only = bootstrap_ci((split.mean() - base.mean()).to_numpy())
    assert video_only[0] > 0
    low, high = seed_video_delta_ci(split, base, n_boot=2000)
    assert low < 0 < high and high - low > 5 * (video_only[1] - video_only[0])
    low, high = seed_video_delta_ci(agree, base, n_boot=2000)
    assert 0.05 < low < 0.1 < high < 0.15
    assert seed_video_delta_ci(agree, base, n_boot=500) == seed_video_delta_ci(agree, base, n_boot=500)
