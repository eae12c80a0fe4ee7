"""ReferFormer (Wu et al., CVPR 2022, "Language as Queries for Referring Video Object Segmentation"),
rebuilt to compute what the authors' code computes and to load their release checkpoints.

* :mod:`.model`: the model (registered as ``referformer``) and its dynamic mask head;
* :mod:`.transformer`: the deformable encoder/decoder with iterative box refinement;
* :mod:`.segmentation`: early vision-language fusion and the cross-modal FPN;
* :mod:`.official`: the authors' state-dict keys → ours.

The equivalence with the authors' code is tested under ``pytest -m official`` (docs/models.md).
"""
from rvosbench.models.referformer.model import ReferFormer

__all__ = ["ReferFormer"]
