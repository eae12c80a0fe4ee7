"""A short cell reproduces bit for bit: the same ProxyFormer, data and seed give identical losses at every
step and identical metrics (issue 16). The ablation's differences are only worth reading if a rerun of
the same cell gives the same numbers."""
from __future__ import annotations

import json
from pathlib import Path

import torch

import rvosbench.metrics  # noqa: F401  (registers the protocols)
import rvosbench.models  # noqa: F401  (registers the models)
from rvosbench.core.registry import PROTOCOLS
from rvosbench.data import build_benchmark, transforms
from rvosbench.data.clips import TrainClips, collate
from rvosbench.engine.evaluation import ModelPredictor, run_evaluation
from rvosbench.engine.sampling import seed_all
from rvosbench.engine.settings import TrainSettings
from rvosbench.engine.trainer import Trainer
from rvosbench.models import build_model

INPUT = {"num_frames": 3, "short_side": 48, "max_size": 64, "mean": [0.5] * 3, "std": [0.5] * 3}
MODEL = {"type": "proxyformer", "hidden_dim": 16, "num_heads": 2, "num_stages": 2, "num_proxies": 2,
         "token_centres": True, "fine_dim": 8}


def short_cell(root: Path, folder: Path) -> tuple[list[dict], dict]:
    synth = {"type": "synth", "root": str(root), "progress": False, "height": 48, "width": 48, "min_frames": 4,
             "max_frames": 6, "videos": {"train": 4, "test": 2}}
    train, test = (build_benchmark({**synth, "split": split}) for split in ("train", "test"))
    settings = TrainSettings.from_config({"steps": 4, "batch_size": 2, "lr": 1e-3, "warmup": 1, "log_every": 1,
                                          "checkpoint_every": 2})
    seed_all(0)
    model = build_model(MODEL)
    clips = TrainClips(train, num_frames=INPUT["num_frames"], transform=transforms.train_transform(INPUT), seed=0)
    Trainer(model, clips, collate, settings, folder, "reproducible", seed=0).train()
    log = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    predictor = ModelPredictor(model, transforms.eval_transform(INPUT), 6, torch.device("cpu"))
    result = run_evaluation(predictor, test.sample_list(), PROTOCOLS.build_from({"type": test.protocol}))
    return [{k: v for k, v in row.items() if k != "seconds"} for row in log], result.metrics


def test_a_short_cell_trained_twice_gives_identical_losses_and_metrics(tmp_path):
    first_log, first_metrics = short_cell(tmp_path / "synth", tmp_path / "one")
    second_log, second_metrics = short_cell(tmp_path / "synth", tmp_path / "two")
    assert [row["step"] for row in first_log] == [1, 2, 3, 4]
    assert first_log == second_log  # every loss term at every step, bit for bit
    assert first_metrics == second_metrics
    assert first_log[0]["loss"] != first_log[-1]["loss"]  # it did train
