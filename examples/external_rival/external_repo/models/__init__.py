"""The external repository's ``models`` package (same top-level name as many RVOS repos)."""
from models.colour import ColourSegmenter

__all__ = ["ColourSegmenter"]
