"""The external repository's own helpers (a top-level ``util`` package, as rival repos have)."""
import numpy as np

COLOURS = {
    "red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220), "yellow": (235, 210, 40),
    "orange": (240, 140, 30), "purple": (140, 60, 190), "cyan": (40, 200, 210), "magenta": (210, 50, 180),
    "pink": (240, 150, 190), "white": (240, 240, 240), "black": (20, 20, 20), "brown": (130, 80, 40),
    "grey": (128, 128, 128), "gray": (128, 128, 128),
}


def colour_words(text: str) -> list[str]:
    return [word for word in text.lower().replace(",", " ").split() if word in COLOURS]


def colour_distance(frames: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.linalg.norm(frames.astype(np.float32) - np.asarray(rgb, np.float32), axis=-1)
