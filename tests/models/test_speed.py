"""The speed and cost measurements run and measure what they say (tiny sizes; the real numbers are `make bench`)."""
from __future__ import annotations

import json

import pytest
import torch

from rvosbench.models import speed, speed_attention
from rvosbench.models.costs import PeakTensorMemory, count_flops


def test_peak_tensor_memory_counts_live_storages_once():
    with PeakTensorMemory() as tracker:
        a = torch.ones(1024, 256)  # 1 MiB
        view = a[:10]  # a view shares the storage: not counted again
        b = torch.ones(1024, 256)
        del a, view, b
        c = torch.ones(512, 256)  # after the frees: live is 0.5 MiB, the peak stays 2 MiB
    assert tracker.peak == 2 * 2**20
    assert tracker.live == c.untyped_storage().nbytes()


def test_flops_count_attention_matmuls():
    q = torch.randn(1, 2, 16, 8)
    flops = count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert flops == 2 * (2 * 1 * 2 * 16 * 16 * 8)  # QK^T and AV, 2 FLOPs per multiply-add


def test_attention_pairs_grow_linearly_when_decoupled_and_quadratically_when_coupled():
    L, N = 500, 4
    d = [speed_attention.attention_pairs("decoupled", T, L, N) for T in (4, 8)]
    c = [speed_attention.attention_pairs("coupled", T, L, N) for T in (4, 8)]
    assert 2.0 <= d[1] / d[0] < 2.1 and 3.99 < c[1] / c[0] <= 4.0


@pytest.mark.parametrize("card", ["proxyformer_tiny", "referformer_tiny", "mttr_tiny"])
def test_bench_model_prints_the_costs(card, capsys, tmp_path):
    out = tmp_path / "cost.json"
    assert speed.main([card, "--frames", "2", "--size", "64", "--repeats", "1",
                       "--train-batch", "1", "--threads", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for label in ("params", "FLOPs / clip", "latency / clip", "peak memory", "train step"):
        assert label in text
    cost = json.loads(out.read_text())
    assert cost["params"]["trainable"] < cost["params"]["total"] and cost["flops"] > 0 and cost["peak_mem_mb"] > 0


def test_bench_attention_compares_both_modes_in_one_table(capsys, tmp_path):
    out = tmp_path / "rows.json"
    assert speed_attention.main(["--frames", "2", "4", "--size", "64", "--repeats", "1", "--threads", "1",
                                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["mode"], r["T"]) for r in rows] == [("decoupled", 2), ("coupled", 2), ("decoupled", 4), ("coupled", 4)]
    coupled = {r["T"]: r["peak_mem_mb"] for r in rows if r["mode"] == "coupled"}
    decoupled = {r["T"]: r["peak_mem_mb"] for r in rows if r["mode"] == "decoupled"}
    assert coupled[4] > decoupled[4]
    assert "ratios are coupled / decoupled" in capsys.readouterr().out
