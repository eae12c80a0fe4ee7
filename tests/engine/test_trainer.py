"""The training loop: learning, checkpoints readable with weights_only, exact resume, divergence."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rvosbench.core.errors import TrainingDiverged
from rvosbench.engine.checkpoint import LAST, step_checkpoints
from rvosbench.engine.sampling import StreamSampler
from rvosbench.engine.settings import TrainSettings
from rvosbench.engine.trainer import Trainer, read_done
from tests.engine.toys import ToyClips, ToyModel

collate = torch.utils.data.default_collate


def make_trainer(folder: Path, steps: int = 12, seed: int = 0, model: ToyModel | None = None, **settings) -> Trainer:
    torch.manual_seed(seed)
    config = {"steps": steps, "batch_size": 2, "lr": 0.2, "warmup": 2, "checkpoint_every": 4, "log_every": 2,
              "keep_checkpoints": 2, "clip_grad": 1.0, **settings}
    return Trainer(model or ToyModel(), ToyClips(), collate, TrainSettings.from_config(config), folder,
                   train_key="k1", seed=seed)


def fail_after_logging(trainer: Trainer, step: int, error: BaseException) -> None:
    """Make ``trainer`` raise ``error`` right after it logs ``step`` (a kill or Ctrl-C at that moment)."""
    real_log = trainer._log

    def log_then_fail(record):
        real_log(record)
        if trainer.step == step:
            raise error

    trainer._log = log_then_fail


def test_training_learns_logs_and_checkpoints(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, steps=30)
    done = trainer.train()
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(2, 31, 2))
    assert log[-1]["loss"] < 0.6 * log[0]["loss"]  # it learns
    assert {"loss", "loss_mask", "grad_norm", "lr/backbone", "lr/rest", "seconds"} <= set(log[0])
    assert log[0]["lr/backbone"] == pytest.approx(0.5 * log[0]["lr/rest"])  # ReferFormer's group multiplier
    data = torch.load(tmp_path / LAST, weights_only=True)  # plain tensors and types only
    assert data["step"] == 30 and data["train_key"] == "k1"
    assert set(data) >= {"model", "optimizer", "scheduler", "rng", "meta"}
    assert [s for s, _ in step_checkpoints(tmp_path)] == [28, 30]  # keep_checkpoints newest
    assert read_done(tmp_path, "k1") == done and read_done(tmp_path, "other") is None
    assert len(done["checkpoint_sha256"]) == 64


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path: Path) -> None:
    full = make_trainer(tmp_path / "full")
    full.train()

    class Killed(Exception):
        pass

    broken = make_trainer(tmp_path / "resumed")
    fail_after_logging(broken, 6, Killed())  # between checkpoints 4 and 8
    with pytest.raises(Killed):
        broken.train()
    assert torch.load(tmp_path / "resumed" / LAST, weights_only=True)["step"] == 4
    resumed = make_trainer(tmp_path / "resumed", seed=0)
    resumed.train()
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed/train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(2, 13, 2))  # lines after the checkpoint were dropped and redone once


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, steps=20, model=ToyModel(fail_at_call=7))
    with pytest.raises(TrainingDiverged) as info:
        trainer.train()
    message = str(info.value)
    assert "loss became nan at step 7" in message and "step 4" in message and "train.lr" in message
    assert torch.load(tmp_path / LAST, weights_only=True)["step"] == 4
    assert not (tmp_path / "done.json").exists()


def test_frozen_group_and_accumulation(tmp_path: Path) -> None:
    model = ToyModel()
    before = model.backbone.weight.detach().clone()
    trainer = make_trainer(tmp_path, steps=3, model=model, group_lr={"backbone": 0.0}, accumulate=2)
    trainer.train()
    assert torch.equal(model.backbone.weight, before) and not model.backbone.weight.requires_grad
    assert [g["name"] for g in trainer.optimizer.param_groups] == ["rest"]


def test_stream_sampler_splits_global_batches_across_ranks() -> None:
    one = iter(StreamSampler(10, 4, seed=3))
    r0, r1 = iter(StreamSampler(10, 2, seed=3, rank=0, world_size=2)), iter(StreamSampler(10, 2, seed=3, rank=1,
                                                                                           world_size=2))
    for _ in range(6):  # crosses epoch boundaries
        assert sorted(next(one)) == sorted(next(r0) + next(r1))
    late = iter(StreamSampler(10, 4, seed=3, start=5))
    fresh = iter(StreamSampler(10, 4, seed=3))
    for _ in range(5):
        next(fresh)
    assert next(late) == next(fresh)


def test_unknown_train_key_is_a_clear_error() -> None:
    from rvosbench.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown key 'train.stpes'.*'steps'"):
        TrainSettings.from_config({"stpes": 3})


def test_ctrl_c_saves_the_steps_done(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    fail_after_logging(trainer, 6, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert torch.load(tmp_path / LAST, weights_only=True)["step"] == 6  # not only the step-4 checkpoint
