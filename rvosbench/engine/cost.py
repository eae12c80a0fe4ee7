"""What a model costs, measured inside an evaluation cell (``summary.json`` ``cost`` and the study's
``cost.jsonl`` / ``scaling.jsonl``, which the reports plot). The counting itself is
:mod:`rvosbench.models.costs`'s, the same as ``rvosbench bench``'s:

* ``params``: every parameter, frozen encoders included (what must be loaded to run the model);
* ``flops``: floating-point operations of one inference window of the benchmark's first sample
  (:func:`~rvosbench.models.costs.count_flops`), with that window's ``frames`` and input ``size``;
* ``latency_ms``: milliseconds per frame of ``predict`` over the whole split (the evaluation timings);
* ``peak_mem_mb``: peak accelerator memory during the evaluation; ``None`` on CPU, where PyTorch keeps
  no per-model allocation count (``rvosbench bench model`` measures CPU memory separately).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from rvosbench.core.types import Sample
from rvosbench.data.clips import video_windows
from rvosbench.engine.distributed import DistContext
from rvosbench.engine.evaluation import ModelPredictor, run_evaluation
from rvosbench.models.costs import count_flops, peak_memory_mb, reset_peak_memory


def window_flops(model: nn.Module, transform: Callable, sample: Sample, window: int | None,
                 device: torch.device) -> dict[str, Any]:
    """FLOPs of ``predict`` on the first window of ``sample``, with the window's frames and size.

    Best effort: ``FlopCounterMode``'s module tracker fails on some models (a parameter passed as a
    module's input under ``no_grad`` raises inside torch); ``flops`` is then ``None``.
    """
    first = next(video_windows(sample, transform, window))
    model.eval()
    try:
        with torch.no_grad():
            flops: int | None = count_flops(lambda: model.predict(first.frames.to(device), sample.text,
                                                                  tuple(sample.orig_size)))
    except (AssertionError, RuntimeError):
        flops = None
    return {"flops": flops, "frames": len(first.indices), "size": list(first.frames.shape[-2:])}


def scaling_points(model: nn.Module, transform: Callable, samples: Sequence[Sample], make_evaluator: Callable[[], Any],
                   frame_counts: Sequence[int], headline: str, device: torch.device,
                   ctx: DistContext | None = None) -> list[dict[str, Any]]:
    """J&F (the benchmark's headline metric), ms/frame and peak memory when the model sees windows of
    each of ``frame_counts`` frames (the coupled vs decoupled attention study's x axis)."""
    points = []
    for frames in frame_counts:
        reset_peak_memory(device)
        result = run_evaluation(ModelPredictor(model, transform, int(frames), device), samples, make_evaluator(), ctx,
                                desc=f"[scaling] T={frames}")
        if result is not None:
            points.append({"num_frames": int(frames), headline: result.metrics.get(headline),
                           "latency_ms": result.timings["ms_per_frame"], "peak_mem_mb": peak_memory_mb(device)})
    return points
