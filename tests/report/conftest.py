"""A small stored study written in the result-store format of docs/architecture.md.

Three variants × two seeds × one benchmark, eight videos of two expressions each, with tags, varied
lengths, costs, training logs, a frame-count sweep and qualitative strips; plus ``runs/index.jsonl``
with the cells, a second study of a rival whose card publishes numbers, and an external entry.
Per-sample values are random but fixed (seeded); summaries are their per-expression means, as the
per_expression protocol computes them, so every table value can be recomputed from the records.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

VARIANTS = {"proxyformer": 0.0, "no_jsc": -0.08, "half_proxies": -0.01}  # quality offsets
SEEDS = [0, 1]
VIDEOS = [f"v{i:02d}" for i in range(8)]
LENGTHS = [8, 8, 12, 12, 16, 16, 24, 24]
TAGS = [["static"], ["motion"], ["motion", "spatial"], ["static", "spatial"]]
COST = {"proxyformer": (2.1e6, 4.0e9, 35.0), "no_jsc": (2.1e6, 4.0e9, 34.0), "half_proxies": (1.6e6, 2.5e9, 22.0)}
BENCHMARK = ("synth", "test")


def _records(variant: str, seed: int) -> list[dict]:
    rng = np.random.default_rng(100 * seed + list(VARIANTS).index(variant))
    records = []
    for v, (video, length) in enumerate(zip(VIDEOS, LENGTHS)):
        for e in range(2):
            base = 0.62 + 0.03 * v / len(VIDEOS) + VARIANTS[variant] + (0.05 if e == 0 else 0.0)
            j = float(np.clip(base + rng.normal(0, 0.04), 0, 1))
            f = float(np.clip(base + 0.04 + rng.normal(0, 0.04), 0, 1))
            records.append({"video_id": video, "exp_id": str(e), "text": f"the object {e} in {video}",
                            "num_frames": length, "tags": TAGS[(v + e) % len(TAGS)], "category": "shape",
                            "J": j, "F": f, "J&F": (j + f) / 2})
    return records


def _strip(video: str, exp: str, quality: float) -> dict[str, np.ndarray]:
    t, h, w = 4, 48, 64
    frames = np.zeros((t, h, w, 3), np.uint8)
    frames[..., 2] = np.linspace(40, 160, w, dtype=np.uint8)[None, None, :]
    gt = np.zeros((t, h, w), bool)
    pred = np.zeros((t, h, w), bool)
    for i in range(t):
        gt[i, 10:30, 8 + 6 * i:28 + 6 * i] = True
        shift = int(round((1 - quality) * 20))
        pred[i, 12:32, 8 + 6 * i + shift:28 + 6 * i + shift] = True
    return {"frames": frames, "gt": gt, "pred": pred, "text": np.array(f"the object {exp} in {video}")}


def write_study(root: Path, name: str = "toy") -> Path:
    """Write ``root/<name>/`` and ``root/index.jsonl``; returns the study folder."""
    study = root / name
    card = {"name": "proxyformer_tiny", "description": "tiny ProxyFormer", "published": []}
    plan = {"name": name, "title": "Toy JSC study", "baseline": "proxyformer", "seeds": SEEDS,
            "benchmarks": ["synth/test"],
            "variants": {v: {"description": f"the {v} variant"} for v in VARIANTS}}
    study.mkdir(parents=True)
    (study / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    index = []
    for variant in VARIANTS:
        for seed in SEEDS:
            cell_id = f"{variant}-s{seed}--synth-test"
            cell = study / "cells" / cell_id
            cell.mkdir(parents=True)
            records = _records(variant, seed)
            metrics = {m: float(np.mean([r[m] for r in records])) for m in ("J&F", "J", "F")}
            params, flops, latency = COST[variant]
            summary = {"key": f"k-{variant}-{seed}", "study": name, "variant": variant, "seed": seed,
                       "model": {"type": "proxyformer"}, "card": card, "benchmark": BENCHMARK[0],
                       "split": BENCHMARK[1], "metrics": metrics, "metric_version": "1",
                       "fingerprint": "fp", "checkpoint_sha256": "abc",
                       "cost": {"params": params, "flops": flops, "latency_ms": latency},
                       "created": "2025-01-01T00:00:00+0000"}
            (cell / "summary.json").write_text(json.dumps(summary))
            (cell / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
            (cell / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "variant": variant}))
            (cell / "env.json").write_text(json.dumps({"python": "3.11", "torch": "2.13"}))
            (cell / "timings.json").write_text(json.dumps({"total_s": 12.5, "per_sample_ms": 40.0}))
            strips = cell / "strips"
            strips.mkdir()
            quality = 1.0 + VARIANTS[variant] * 4
            for video, exp in (("v00", "0"), ("v03", "1")):
                np.savez(strips / f"{video}__{exp}.npz", **_strip(video, exp, quality))
            index.append({**summary, "path": f"{name}/cells/{cell_id}", "source": "trained"})
            log = study / "train" / f"{variant}-s{seed}"
            log.mkdir(parents=True)
            lines = [{"step": s, "loss": 2.0 * np.exp(-s / 40) + 0.1 + 0.02 * seed, "lr": 1e-4}
                     | ({"val/J&F": 0.3 + 0.3 * (1 - np.exp(-s / 50)) + VARIANTS[variant]} if s % 20 == 0 else {})
                     for s in range(0, 201, 5)]
            (log / "train_log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    for name, value in (("empty", 0.08), ("whole_frame", 0.21)):  # trivial baselines, as the engine stores them
        folder = study / "baselines" / f"{name}--synth-test"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({
            "key": f"b-{name}", "study": name, "variant": name, "seed": None, "model": None, "card": None,
            "benchmark": "synth", "split": "test", "metrics": {"J&F": value, "J": value, "F": value},
            "source": "baseline"}))
    scaling = [{"variant": v, "seed": 0, "num_frames": t, "J&F": 0.7 - 0.002 * t + VARIANTS[v],
                "latency_ms": (10 + t * 2.0) if v != "no_jsc" else (10 + 0.15 * t * t), "peak_mem_mb": 100 + t}
               for v in VARIANTS for t in (4, 8, 16, 32)]
    (study / "scaling.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scaling))
    with open(root / "index.jsonl", "a") as handle:
        for line in index:
            handle.write(json.dumps(line) + "\n")
    return study


def write_rival_and_external(root: Path) -> None:
    """A rival's cells (its card publishes numbers) and an external predictions entry (summaries only)."""
    card = {"name": "referformer_toy", "published": [
        {"benchmark": "synth/test", "metric": "J&F", "value": 61.0, "source": "made-up paper, Tab. 1"},
        {"benchmark": "ref_davis17/valid", "metric": "J&F", "value": 58.5, "source": "ReferFormer docs"}]}
    lines = []
    for seed, value in ((0, 0.60), (1, 0.64)):
        lines.append({"key": f"r{seed}", "study": "rivals", "variant": "referformer", "seed": seed,
                      "model": {"type": "referformer"}, "card": card, "benchmark": "synth", "split": "test",
                      "metrics": {"J&F": value, "J": value - 0.02, "F": value + 0.02},
                      "path": f"rivals/cells/referformer-s{seed}--synth-test", "source": "trained"})
    lines.append({"key": "x1", "study": "external", "variant": "my_method", "seed": 0, "model": "external",
                  "card": {}, "benchmark": "synth", "split": "test",
                  "metrics": {"J&F": 0.71, "J": 0.69, "F": 0.73}, "path": "external/cells/my_method--synth-test",
                  "source": "external"})
    with open(root / "index.jsonl", "a") as handle:
        for line in lines:
            cell = root / line["path"]
            cell.mkdir(parents=True)
            (cell / "summary.json").write_text(json.dumps({k: v for k, v in line.items() if k not in ("path", "source")}))
            handle.write(json.dumps(line) + "\n")


def write_legacy_store(root: Path) -> Path:
    """The toy study, a rival study and an external entry in the first store layout (``<store>/<study>/cells``)."""
    write_study(root)
    write_rival_and_external(root)
    return root


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Path:
    """A results store with the toy study, a rival study and an external entry (read-only for tests),
    written in the first layout and migrated to the current one, as ``rvosbench run`` does on open."""
    from rvosbench.core.store import migrate

    root = write_legacy_store(tmp_path_factory.mktemp("runs"))
    migrate(root)
    return root


@pytest.fixture(scope="session")
def study_dir(store: Path) -> Path:
    return store / "studies" / "toy"


def write_values_study(root: Path, values: dict[str, list[float]], name: str = "known") -> Path:
    """A one-seed study whose video i has a single expression scoring ``values[variant][i]`` (J = F = J&F)."""
    study = root / name
    (study / "cells").mkdir(parents=True)
    (study / "plan.yaml").write_text(yaml.safe_dump({"name": name, "baseline": next(iter(values)),
                                                     "variants": {v: {} for v in values}}))
    for variant, scores in values.items():
        cell = study / "cells" / f"{variant}-s0--synth-test"
        cell.mkdir()
        records = [{"video_id": f"v{i:03d}", "exp_id": "0", "text": "x", "num_frames": 8, "tags": [],
                    "category": None, "J": s, "F": s, "J&F": s} for i, s in enumerate(scores)]
        summary = {"key": f"{name}-{variant}", "study": name, "variant": variant, "seed": 0, "model": "m",
                   "card": {}, "benchmark": "synth", "split": "test",
                   "metrics": {"J&F": float(np.mean(scores)), "J": float(np.mean(scores)), "F": float(np.mean(scores))}}
        (cell / "summary.json").write_text(json.dumps(summary))
        (cell / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return study


@pytest.fixture(scope="session")
def report_dir(study_dir: Path, tmp_path_factory) -> Path:
    """The toy study's full report (all formats and plots), written once."""
    from rvosbench.report import write_study_report

    out = tmp_path_factory.mktemp("report")
    write_study_report(study_dir, out, {})
    return out
