"""RVOS models: encoders, ProxyFormer and its ablations, rivals. Importing this registers them all.

``build_model(model_cfg)`` builds any registered model (or dotted variant) from a card's ``model:``
mapping.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import MODELS
from rvosbench.models import (backbones, mttr, proxyformer, referformer, resnet, roberta,  # noqa: F401  (registration)
                             text_encoders, video_swin_backbone)
from rvosbench.models.base import RVOSModel
from rvosbench.models.checkpoint import load_checkpoint, model_state_dict, save_checkpoint

__all__ = ["RVOSModel", "build_model", "load_checkpoint", "model_state_dict", "save_checkpoint"]


def build_model(model_cfg: Mapping[str, Any]) -> RVOSModel:
    """Build a model from ``{'type': name_or_variant, **kwargs}`` (a card's ``model:`` section)."""
    if not isinstance(model_cfg, Mapping):
        raise ConfigError(f"a model config must be a mapping, got {type(model_cfg).__name__}", where="model")
    model = MODELS.build_from(dict(model_cfg), where="model")
    if not isinstance(model, RVOSModel):
        raise ConfigError(f"model type '{model_cfg['type']}' does not build an RVOSModel", where="model.type")
    return model
