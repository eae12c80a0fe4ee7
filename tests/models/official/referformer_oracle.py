"""Build the authors' ReferFormer (wjn922/ReferFormer) on CPU from a checkout, for equivalence tests.

Nothing of the authors' code is copied: the checkout is imported from ``RVOSBENCH_OFFICIAL_REFERFORMER``
and patched at run time only where it cannot run here (official-rivals-notes.md):

* the compiled ``MultiScaleDeformableAttention`` op is replaced by the authors' own pure-PyTorch
  ``ms_deform_attn_core_pytorch`` (same computation);
* ``RobertaModel.from_pretrained('roberta-base')`` becomes a RoBERTa built from roberta-base's config, and
  the tokenizer a local test tokenizer (no hub) given the ``batch_encode_plus`` that transformers 5
  removed; ResNet-50 is built without ImageNet weights;
* its modules are imported with :func:`official_helpers.import_official` (no clash with MTTR's
  ``models``; the package ``__init__`` that loads the CUDA op is not run).

Needs ``einops`` and ``fvcore`` (their imports) in the environment: ``pip install einops fvcore``.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import torch
from official_helpers import import_official

#: the release scripts' flags (scripts/dist_train_test_ytvos.sh, inference_ytvos.py)
RELEASE_FLAGS = ["--with_box_refine", "--binary", "--freeze_text_encoder", "--masks", "--device", "cpu"]
CUDA_OP = "MultiScaleDeformableAttention"  # the compiled extension their deformable attention imports


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

    opts = import_official(checkout, "opts")
    sys.modules[CUDA_OP] = types.ModuleType(CUDA_OP)  # never called: the pure-PyTorch core replaces it
    try:
        official = import_official(checkout, "models.referformer")
    finally:
        del sys.modules[CUDA_OP]
    deform_module = sys.modules["models.ops.modules.ms_deform_attn"]
    deform_func = sys.modules["models.ops.functions.ms_deform_attn_func"]
    deform_module.MSDeformAttnFunction = _PurePytorchDeformAttn(deform_func.ms_deform_attn_core_pytorch)
    sys.modules["models.backbone"].is_main_process = lambda: False  # no ImageNet download for ResNet
    official.RobertaTokenizerFast = types.SimpleNamespace(from_pretrained=lambda name: _Tokenizer(tokenizer_dir))
    official.RobertaModel = types.SimpleNamespace(from_pretrained=lambda name: RobertaModel(RobertaConfig(**ROBERTA_BASE)))
    args = opts.get_args_parser().parse_args(RELEASE_FLAGS + ["--backbone", backbone, *extra_flags])
    model, _, _ = official.build(args)
    return model.eval(), args


def official_video_prediction(outputs: dict, orig_size: tuple[int, int], threshold: float = 0.5) -> torch.Tensor:
    """The authors' ``inference_ytvos.py`` selection on their outputs for one video → bool (T, H, W)."""
    logits, masks = outputs["pred_logits"][0], outputs["pred_masks"][0]
    scores = logits.sigmoid().mean(0)  # (q, k)
    best = scores.max(-1)[0].max(-1)[1]
    chosen = masks[range(masks.shape[0]), best.repeat(masks.shape[0])].unsqueeze(0)
    upsampled = torch.nn.functional.interpolate(chosen, size=orig_size, mode="bilinear", align_corners=False)
    return (upsampled.sigmoid() > threshold)[0]
