"""Segment the pixels whose colour is closest to the first colour word of the expression."""
import numpy as np

from util import COLOURS, colour_distance, colour_words


class ColourSegmenter:
    def __init__(self, threshold: float = 90.0):
        self.threshold = threshold

    def __call__(self, frames: np.ndarray, text: str) -> np.ndarray:
        """frames: uint8 (T, H, W, 3) -> probabilities (T, H, W) in [0, 1]."""
        words = colour_words(text)
        if not words:
            return np.zeros(frames.shape[:3], np.float32)
        distance = colour_distance(frames, COLOURS[words[0]])
        return np.clip(1.0 - distance / (2 * self.threshold), 0.0, 1.0).astype(np.float32)
