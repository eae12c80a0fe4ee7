"""rvosbench plug-in: the external colour segmenter as a registered, inference-only rival.

Load it with ``--plugin examples/external_rival/colour_rival.py`` or ``plugins: [colour_rival.py]``
in a study. The model runs in its own process (``SubprocessRival``), so the external repository's
``models``/``util`` packages never meet rvosbench's, and a crash there fails one cell, not the run.
"""
from pathlib import Path

from rvosbench.core.registry import MODELS
from rvosbench.models.external import SubprocessRival

HERE = Path(__file__).resolve().parent


@MODELS.register_module(name="colour_rival")
class ColourRival(SubprocessRival):
    """External colour-word segmenter run in a subprocess (inference only; example plug-in)."""

    def __init__(self, threshold: float = 90.0, repo: str = str(HERE / "external_repo"),
                 worker: str = str(HERE / "worker.py"), **options):
        super().__init__(repo=repo, worker=worker, args=["--threshold", str(threshold)], **options)
