"""Build the authors' ReferFormer (wjn922/ReferFormer) on CPU from a checkout, for equivalence tests.

Nothing of the authors' code is copied: the checkout is imported from ``RVOSBENCH_OFFICIAL_REFERFORMER``
and patched at run time only where it cannot run here (official-rivals-notes.md):

* the compiled ``MultiScaleDeformableAttention`` op is replaced by the authors' own pure-PyTorch
  ``ms_deform_attn_core_pytorch`` (same computation);
* ``RobertaModel.from_pretrained('roberta-base')`` becomes a RoBERTa built from roberta-base's config, and
  the tokenizer a local test tokenizer (no hub) given the ``batch_encode_plus`` that transformers 5
  removed; ResNet-50 is built without ImageNet weights;
* its top-level packages (``models``, ``util``, ``datasets``, ``opts``) are imported under a fresh
  ``sys.modules`` and removed again afterwards, so another checkout (MTTR also has ``models``) can be
  imported in the same test session.

Needs ``einops`` and ``fvcore`` (their imports) in the environment: ``pip install einops fvcore``.
"""
from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import torch

OFFICIAL_TOP_LEVEL = ("models", "util", "datasets", "opts", "MultiScaleDeformableAttention")
#: the release scripts' flags (scripts/dist_train_test_ytvos.sh, inference_ytvos.py)
RELEASE_FLAGS = ["--with_box_refine", "--binary", "--freeze_text_encoder", "--masks", "--device", "cpu"]


@contextlib.contextmanager
def official_modules(checkout: Path) -> Iterator[None]:
    """Import the checkout's packages inside the block only (sys.path and sys.modules restored after)."""
    saved = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] in OFFICIAL_TOP_LEVEL}
    for name in saved:
        del sys.modules[name]
    sys.modules["MultiScaleDeformableAttention"] = types.ModuleType("MultiScaleDeformableAttention")
    sys.path.insert(0, str(checkout))
    try:
        yield
    finally:
        sys.path.remove(str(checkout))
        for name in [n for n in sys.modules if n.split(".")[0] in OFFICIAL_TOP_LEVEL]:
            del sys.modules[name]
        sys.modules.update(saved)


class _PurePytorchDeformAttn:
    """Stands in for the CUDA ``MSDeformAttnFunction``: the authors' own pure-PyTorch core."""

    def __init__(self, core):
        self.core = core

    def apply(self, value, spatial_shapes, level_start_index, sampling_locations, attention_weights, im2col_step):
        return self.core(value, spatial_shapes, sampling_locations, attention_weights)


class _Tokenizer:
    """A transformers 5 tokenizer with the ``batch_encode_plus`` the authors call (removed in transformers 5)."""

    def __init__(self, folder: Path):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)

    def batch_encode_plus(self, texts, **kwargs):
        return self.tokenizer(texts, **kwargs)


def build_official_referformer(checkout: Path, backbone: str, tokenizer_dir: Path, extra_flags: list[str] = ()):
    """The authors' ``build_model(args)`` with the release flags; returns ``(model, args)``."""
    from transformers import RobertaConfig, RobertaModel

    from rvosbench.models.roberta import ROBERTA_BASE

    with official_modules(checkout):
        import models.backbone as official_backbone
        import models.ops.functions.ms_deform_attn_func as deform_func
        import models.ops.modules.ms_deform_attn as deform_module
        import models.referformer as official_referformer
        import opts
        from models import build_model

        deform_module.MSDeformAttnFunction = _PurePytorchDeformAttn(deform_func.ms_deform_attn_core_pytorch)
        official_backbone.is_main_process = lambda: False  # no ImageNet download for ResNet
        official_referformer.RobertaTokenizerFast = types.SimpleNamespace(
            from_pretrained=lambda name: _Tokenizer(tokenizer_dir))
        official_referformer.RobertaModel = types.SimpleNamespace(
            from_pretrained=lambda name: RobertaModel(RobertaConfig(**ROBERTA_BASE)))
        parser = opts.get_args_parser()
        args = parser.parse_args(RELEASE_FLAGS + ["--backbone", backbone, *extra_flags])
        model, _, _ = build_model(args)
    return model.eval(), args


def add_noise_(module: torch.nn.Module, seed: int, scale: float = 0.02) -> None:
    """Add ``scale · N(0, 1)`` to every float tensor (parameters and buffers), in place.

    Freshly built, many tensors are zeros or constants (deformable offsets and weights, the box heads'
    last layers, norms, frozen BatchNorm): outputs then hide most of the network (boxes equal the
    references, masks come out empty). Noise makes every tensor matter.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(scale * torch.randn(tensor.shape, generator=generator))


def official_video_prediction(outputs: dict, orig_size: tuple[int, int], threshold: float = 0.5) -> torch.Tensor:
    """The authors' ``inference_ytvos.py`` selection on their outputs for one video → bool (T, H, W)."""
    logits, masks = outputs["pred_logits"][0], outputs["pred_masks"][0]
    scores = logits.sigmoid().mean(0)  # (q, k)
    best = scores.max(-1)[0].max(-1)[1]
    chosen = masks[range(masks.shape[0]), best.repeat(masks.shape[0])].unsqueeze(0)
    upsampled = torch.nn.functional.interpolate(chosen, size=orig_size, mode="bilinear", align_corners=False)
    return (upsampled.sigmoid() > threshold)[0]
