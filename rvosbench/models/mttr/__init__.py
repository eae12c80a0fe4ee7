"""MTTR, equal to the authors' code: see :mod:`rvosbench.models.mttr.model`. Importing registers ``mttr``."""
from rvosbench.models.mttr.model import MTTR

__all__ = ["MTTR"]
