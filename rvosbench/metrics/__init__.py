"""Official RVOS metrics, protocols (registered evaluators), submission files and statistics.

Importing this package registers every protocol in :data:`rvosbench.core.registry.PROTOCOLS`.
"""
from rvosbench.metrics.davis import boundary_f, db_statistics, jaccard, jaccard_and_boundary

__all__ = ["boundary_f", "db_statistics", "jaccard", "jaccard_and_boundary"]
