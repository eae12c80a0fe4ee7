"""Run a rival's own inference code in a separate process, one per model.

RVOS codebases (ReferFormer, MTTR, SgMg, …) ship top-level ``models``, ``datasets`` and ``util``
packages, pin old library versions, and some crash or run out of memory on long videos. Importing them
into the rvosbench process would shadow each other's packages and let one crash end a whole study.
:class:`SubprocessRival` keeps each in its own Python process, started lazily and reused across
samples, with the external repository as its working directory and first import path.

Protocol (documented in docs/plugins.md): the worker reads one JSON line per request on stdin,
``{"frames": "<.npy uint8 (T,H,W,3)>", "text": "...", "out": "<.npz path>"}``, writes an ``.npz`` with
``masks`` (T,H,W) bool or ``probs`` (T,H,W) float, optionally ``query_masks`` (Q,T,H,W) and
``query_scores`` (Q,T), and answers ``{"ok": true}`` or ``{"ok": false, "error": "..."}``. It may print
anything else to stderr (kept for error messages) but only these lines to stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from threading import Thread
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rvosbench.core.errors import UserError
from rvosbench.core.types import Prediction
from rvosbench.models.base import RVOSModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ExternalModelError(UserError):
    """The external model's worker failed, crashed or answered something unreadable."""


class SubprocessRival(RVOSModel):
    """Inference-only adapter around an external codebase's worker script (see module docstring).

    Args:
        repo: the external repository (its working directory and first ``sys.path`` entry).
        worker: the worker script, absolute or relative to ``repo``.
        python: interpreter for the worker (e.g. the rival's own venv); default: this one.
        args: extra command-line arguments for the worker (checkpoint path, options).
        mean, std: the normalisation the engine applied to frames, undone before frames are sent, so
            the worker receives plain uint8 RGB frames at the evaluated resolution.
        timeout_s: seconds to wait for one answer before the worker is declared hung and killed.
    """

    trainable = False

    def __init__(self, repo: str, worker: str, python: str | None = None, args: list[str] | None = None,
                 mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
                 timeout_s: float = 600.0, env: dict[str, str] | None = None):
        super().__init__()
        self.repo = Path(repo).expanduser().resolve()
        self.worker = (self.repo / worker).resolve() if not Path(worker).is_absolute() else Path(worker)
        self.python = python or sys.executable
        self.args = list(args or [])
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.timeout_s = timeout_s
        self.extra_env = dict(env or {})
        self._process: subprocess.Popen | None = None
        self._drain: Thread | None = None
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._workdir = tempfile.TemporaryDirectory(prefix="rvosbench-external-")
        if not self.repo.is_dir():
            raise ExternalModelError("external repository not found", where=str(self.repo),
                                     hint="set model.repo to the rival's checkout")
        if not self.worker.is_file():
            raise ExternalModelError("worker script not found", where=str(self.worker),
                                     hint="set model.worker (relative to model.repo)")

    # -- process management -------------------------------------------------------------------
    def _start(self) -> subprocess.Popen:
        env = {**os.environ, **self.extra_env, "PYTHONPATH": str(self.repo), "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen([self.python, str(self.worker), *self.args], cwd=self.repo, env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, bufsize=1)
        self._stderr_tail.clear()
        self._drain = Thread(target=self._drain_stderr, args=(process,), daemon=True)
        self._drain.start()
        return process

    def _drain_stderr(self, process: subprocess.Popen) -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            self._stderr_tail.append(line.rstrip())

    def _failure(self, what: str) -> ExternalModelError:
        if self._process is not None and self._process.poll() is not None and self._drain is not None:
            self._drain.join(timeout=2)  # an exited worker's last stderr lines explain why
        tail = " | ".join(list(self._stderr_tail)[-3:])
        self.close()
        return ExternalModelError(f"{what}{': ' + tail if tail else ''}", where=str(self.worker),
                                  hint="the worker restarts for the next sample; run it by hand to debug")

    def close(self) -> None:
        """Stop the worker (it is restarted on the next ``predict``)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def __del__(self) -> None:  # best effort: never leave orphan workers behind
        try:
            self.close()
        except Exception:
            pass

    def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._process is None or self._process.poll() is not None:
            self._process = self._start()
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            raise self._failure("the worker exited before reading the request") from None
        answer: list[str] = []
        reader = Thread(target=lambda: answer.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.timeout_s)
        if reader.is_alive():
            raise self._failure(f"the worker did not answer within {self.timeout_s:.0f} s")
        if not answer or not answer[0]:
            try:
                code = self._process.wait(timeout=5)  # stdout closed: the worker is exiting
            except subprocess.TimeoutExpired:
                code = None
            raise self._failure(f"the worker exited (status {code})")
        try:
            reply = json.loads(answer[0])
        except json.JSONDecodeError:
            raise self._failure(f"the worker printed {answer[0][:80]!r} instead of a JSON answer") from None
        if not reply.get("ok"):
            raise ExternalModelError(f"the worker reported: {reply.get('error', 'no error message')}",
                                     where=str(self.worker))
        return reply

    # -- the model contract ---------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        raise ExternalModelError("external models are inference-only", hint="evaluate them without training")

    @torch.no_grad()
    def predict(self, frames: torch.Tensor, text: str, orig_size: tuple[int, int]) -> Prediction:
        rgb = ((frames.float() * self.std + self.mean).clamp(0, 1) * 255).round().to(torch.uint8)
        folder = Path(self._workdir.name)
        frames_path, out_path = folder / "frames.npy", folder / "out.npz"
        out_path.unlink(missing_ok=True)
        np.save(frames_path, rgb.permute(0, 2, 3, 1).cpu().numpy())
        self._request({"frames": str(frames_path), "text": text, "out": str(out_path)})
        try:
            with np.load(out_path) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as error:
            raise self._failure(f"cannot read the worker's output {out_path}: {error}") from error
        return self._to_prediction(arrays, frames.shape[0], orig_size)

    def _to_prediction(self, arrays: dict[str, np.ndarray], num_frames: int, orig_size: tuple[int, int]) -> Prediction:
        if "probs" in arrays:
            probs = arrays["probs"].astype(np.float32)
        elif "masks" in arrays:
            probs = arrays["masks"].astype(np.float32)
        else:
            raise ExternalModelError("the worker's output has neither 'masks' nor 'probs'", where=str(self.worker))
        if probs.ndim != 3 or probs.shape[0] != num_frames:
            raise ExternalModelError(f"the worker returned masks of shape {probs.shape}, expected ({num_frames}, H, W)",
                                     where=str(self.worker))
        probs = _resize(probs[:, None], orig_size)[:, 0]
        query_masks = arrays.get("query_masks")
        if query_masks is not None:
            q, t = query_masks.shape[:2]
            query_masks = _resize(query_masks.reshape(q * t, 1, *query_masks.shape[2:]).astype(np.float32),
                                  orig_size).reshape(q, t, *orig_size) > 0.5
        return Prediction(masks=probs > 0.5, probs=probs, query_masks=query_masks,
                          query_scores=arrays.get("query_scores"))


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (N, 1, h, w) float arrays to ``size``."""
    if tuple(array.shape[-2:]) == tuple(size):
        return array
    return F.interpolate(torch.from_numpy(array), size=size, mode="bilinear", align_corners=False).numpy()
