"""Official RVOS metrics, protocols (registered evaluators), submission files and statistics.

Importing this package registers every protocol in :data:`rvosbench.core.registry.PROTOCOLS`:
``per_expression`` (MeViS / Ref-YouTube-VOS / Ref-DAVIS PE), ``mevis_v2`` (MeViS v2), ``ref_davis_u4``
(Ref-DAVIS17, ReferFormer protocol), ``revos`` (ReVOS) and ``a2d`` (A2D- and JHMDB-Sentences).
"""
from rvosbench.metrics import a2d as _a2d  # noqa: F401  (registers 'a2d')
from rvosbench.metrics import mevis_v2 as _mevis_v2  # noqa: F401  (registers 'mevis_v2')
from rvosbench.metrics import per_expression as _per_expression  # noqa: F401  (registers 'per_expression')
from rvosbench.metrics import ref_davis as _ref_davis  # noqa: F401  (registers 'ref_davis_u4')
from rvosbench.metrics import revos as _revos  # noqa: F401  (registers 'revos')
from rvosbench.metrics.a2d import a2d_scores
from rvosbench.metrics.davis import boundary_f, db_statistics, jaccard, jaccard_and_boundary

__all__ = ["a2d_scores", "boundary_f", "db_statistics", "jaccard", "jaccard_and_boundary"]
