"""Authors' release checkpoints → rvosbench models: unwrapping, key mapping, and one line per problem.

The machinery every rival with released weights shares; each model class brings only its key mapping:

    @classmethod
    def from_official_state_dict(cls, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        '''The authors' state dict (already unwrapped) → a state dict in this class's own keys.'''

What is shared here:

* **Safe reading** is :func:`rvosbench.models.checkpoint.read_checkpoint`: ``torch.load(weights_only=True)``
  with exactly the extra classes the releases pickle allowed (``argparse.Namespace`` under ReferFormer's
  ``'args'``, the ``collections.Counter`` of its scheduler state); anything else is refused, never run.
* **Unwrapping**: ReferFormer saves ``{'model', 'optimizer', 'lr_scheduler', 'epoch', 'args'}``, MTTR
  ``{'model_state_dict', ...}`` or a bare state dict; :func:`unwrap_state_dict` finds the weights.
* **Checking**: after mapping, missing keys, unexpected keys and shape mismatches are counted against the
  model (:func:`conversion_report`); the authors' own layouts must give none of any.
* **Loading**: :func:`native_or_converted_state` decides, for ``load_checkpoint``, whether a file is in
  rvosbench's layout or the authors' (then it is converted on load), so a card's ``checkpoint.path`` can
  name a release file directly and ``rvosbench predict --checkpoint`` takes either.
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from rvosbench.core.errors import CheckpointError
from rvosbench.models.checkpoint import rebuilt_prefixes_of, state_dict_differences

#: where the weights sit in a checkpoint dict: rvosbench and ReferFormer, MTTR, common others
WRAPPERS = ("model", "model_state_dict", "state_dict")
#: entries that only rvosbench's own checkpoints have
RVOSBENCH_MARKERS = ("rebuilt_prefixes", "format")


def unwrap_state_dict(data: Mapping[str, Any], source: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state dict, other entries)`` of a checkpoint dict: the first of :data:`WRAPPERS` present, else the
    dict itself (a bare state dict)."""
    rest = dict(data)
    for key in WRAPPERS:
        if isinstance(rest.get(key), Mapping):
            state = dict(rest.pop(key))
            break
    else:
        state, rest = rest, {}
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("the checkpoint holds no tensor state dict (looked for a bare one and under "
                              f"{', '.join(repr(k) for k in WRAPPERS)})", where=source)
    return state, rest


def converts_official(model: nn.Module) -> bool:
    """Whether the model's class maps an authors' layout (defines ``from_official_state_dict``)."""
    return callable(getattr(type(model), "from_official_state_dict", None))


def convert_official_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str
                                ) -> dict[str, torch.Tensor]:
    """The authors' state dict mapped to ``model``'s keys by its class."""
    if not converts_official(model):
        raise CheckpointError(f"{type(model).__name__} does not load authors' checkpoints", where=source,
                              hint="use a card of a model that does (referformer_r50, referformer_video_swin_b, …)")
    return type(model).from_official_state_dict(state)


def conversion_report(model: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, list[str]]:
    """Missing keys, unexpected keys and shape mismatches of a converted state against ``model``.

    Frozen encoders rebuilt at build time (:func:`rebuilt_prefixes_of`) may be missing.
    """
    return state_dict_differences(model, state, allow_missing=rebuilt_prefixes_of(model))


def report_lines(report: Mapping[str, list[str]], shown: int = 5) -> list[str]:
    """One line per problem kind: ``missing keys: none`` or ``missing keys: 3 (a, b, c)``."""
    lines = []
    for kind, names in report.items():
        listed = ", ".join(names[:shown]) + (f", … (+{len(names) - shown})" if len(names) > shown else "")
        lines.append(f"{kind}: {len(names)} ({listed})" if names else f"{kind}: none")
    return lines


def is_rvosbench_checkpoint(data: Mapping[str, Any]) -> bool:
    return any(key in data for key in RVOSBENCH_MARKERS)


def native_or_converted_state(model: nn.Module, data: Mapping[str, Any], source: str
                              ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict to load into ``model`` from a checkpoint dict, and the checkpoint's other entries.

    rvosbench's files, and bare state dicts whose keys all belong to the model, load as they are. Anything
    else is taken to be an authors' release and converted, when the model's class knows their layout;
    otherwise it is returned as it is and the strict load reports why it does not fit.
    """
    state, rest = unwrap_state_dict(data, source)
    if is_rvosbench_checkpoint(data) or not converts_official(model):
        return state, rest
    own_keys = model.state_dict().keys()
    if all(key in own_keys for key in state):
        return state, rest
    return convert_official_state_dict(model, state, source), rest


def plain(value: Any) -> Any:
    """A release's ``args`` and other entries as plain types (so the converted file needs no allow-list)."""
    if isinstance(value, argparse.Namespace):
        value = vars(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def describe_release(rest: Mapping[str, Any]) -> dict[str, Any]:
    """What a release file says about itself (epoch, training args), optimizer state left out."""
    return {key: plain(rest[key]) for key in ("epoch", "args") if key in rest}
