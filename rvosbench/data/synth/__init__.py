"""``synth``: the embedded diagnostic benchmark (procedural videos of shapes with typed expressions)."""
from rvosbench.data.synth.benchmark import SynthBenchmark
from rvosbench.data.synth.generate import SPLITS, SynthConfig, ensure_dataset, generate_video

__all__ = ["SPLITS", "SynthBenchmark", "SynthConfig", "ensure_dataset", "generate_video"]
