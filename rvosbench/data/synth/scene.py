"""Objects, their trajectories and the renderer of ``synth`` videos.

An object has a shape, a size, a colour per frame (so it can change colour mid-video), a centre per frame
(so it can move, bounce, turn, enter or leave) and a depth order (so objects occlude each other). The
renderer paints them over a textured background from back to front and records, per pixel, the front
object's id: that label map is the ground truth, so an occluded part is never in a mask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from matplotlib.path import Path as PolygonPath

from rvosbench.data.synth.vocab import COLOURS, SIZES


@dataclass
class SceneObject:
    """One object of a video. ``centres`` is (T, 2) in pixels (x, y); positions may lie outside the frame."""

    obj_id: int
    shape: str
    size: str
    colours: list[str]
    centres: np.ndarray
    depth: int = 0
    behaviour: str = "still"

    def diameter(self, height: int, width: int) -> float:
        return SIZES[self.size] * min(height, width)

    @property
    def combos(self) -> set[tuple[str, str]]:
        """Every (colour, shape) this object shows during the video."""
        return {(colour, self.shape) for colour in self.colours}


@dataclass
class Facts:
    """What a viewer can know about an object in each frame; the grammar judges expressions on these.

    ``colours[t]`` is None and ``centres[t]`` NaN where unknown. ``visible[t]`` is the fraction of the
    object's full area that is visible (0 when hidden or outside the frame).
    """

    shape: str
    size: str
    colours: list[str | None]
    centres: np.ndarray
    visible: np.ndarray
    radius: float
    extra: dict = field(default_factory=dict)


def _polygon(shape: str, radius: float) -> np.ndarray | None:
    """Vertices (relative to the centre) of the polygonal shapes; None for circle, square and cross."""
    if shape == "triangle":
        big = radius * 1.3
        angles = np.deg2rad([-90, 30, 150])
        return np.stack([big * np.cos(angles), big * np.sin(angles) + 0.25 * radius], axis=1)
    if shape == "star":
        outer, inner = radius * 1.2, radius * 0.55
        angles = np.deg2rad(np.arange(10) * 36 - 90)
        radii = np.where(np.arange(10) % 2 == 0, outer, inner)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles) + 0.1 * radius], axis=1)
    return None


def shape_mask(shape: str, cx: float, cy: float, diameter: float, height: int, width: int) -> np.ndarray:
    """Boolean (H, W) mask of a shape centred at (cx, cy); pixel (i, j) is sampled at its centre."""
    radius = diameter / 2
    reach = radius * 1.35
    x0, x1 = max(0, math.floor(cx - reach)), min(width, math.ceil(cx + reach) + 1)
    y0, y1 = max(0, math.floor(cy - reach)), min(height, math.ceil(cy + reach) + 1)
    mask = np.zeros((height, width), dtype=bool)
    if x0 >= x1 or y0 >= y1:
        return mask
    ys, xs = np.mgrid[y0:y1, x0:x1]
    dx, dy = xs + 0.5 - cx, ys + 0.5 - cy
    if shape == "circle":
        inside = dx * dx + dy * dy <= radius * radius
    elif shape == "square":
        half = radius * 0.9
        inside = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    elif shape == "cross":
        arm = radius * 0.38
        inside = ((np.abs(dx) <= radius) & (np.abs(dy) <= arm)) | ((np.abs(dx) <= arm) & (np.abs(dy) <= radius))
    else:
        polygon = PolygonPath(_polygon(shape, radius))
        inside = polygon.contains_points(np.stack([dx.ravel(), dy.ravel()], axis=1)).reshape(dx.shape)
    mask[y0:y1, x0:x1] = inside
    return mask


def full_area(shape: str, diameter: float, cx: float | None = None, cy: float | None = None) -> int:
    """Pixel area of the unclipped shape, at the sub-pixel offset of (cx, cy) when given (rasterised
    areas vary by ~10% with the offset)."""
    side = int(math.ceil(diameter * 1.5)) + 4
    fx = 0.0 if cx is None else cx - math.floor(cx)
    fy = 0.0 if cy is None else cy - math.floor(cy)
    return int(shape_mask(shape, side // 2 + fx, side // 2 + fy, diameter, side, side).sum())


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A low-saturation textured background: smooth noise, plus stripes or a checkerboard half the time."""
    base = rng.uniform(85, 165)
    coarse = rng.normal(0, 1, (height // 8 + 2, width // 8 + 2)).astype(np.float32)
    texture = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) * rng.uniform(10, 22)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = rng.integers(0, 4)
    if kind == 1:
        theta, period = rng.uniform(0, math.pi), rng.uniform(6, 14)
        texture += 10 * np.sin(2 * math.pi * (xs * math.cos(theta) + ys * math.sin(theta)) / period)
    elif kind == 2:
        cell = int(rng.integers(6, 12))
        texture += 9 * (((xs // cell) + (ys // cell)) % 2 * 2 - 1)
    tint = rng.normal(0, 6, 3)
    image = base + texture[..., None] + tint + rng.normal(0, 3, (height, width, 1))
    return np.clip(image, 0, 255).astype(np.float32)


def render(objects: list[SceneObject], height: int, width: int, num_frames: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 (T, H, W, 3) and label maps uint8 (T, H, W) (0 = background, else obj_id)."""
    ground = background(rng, height, width)
    shading = rng.normal(0, 7, (height, width, 1)).astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    labels = np.zeros((num_frames, height, width), dtype=np.uint8)
    ordered = sorted(objects, key=lambda o: o.depth)
    for t in range(num_frames):
        image = ground.copy()
        for obj in ordered:
            cx, cy = obj.centres[t]
            mask = shape_mask(obj.shape, cx, cy, obj.diameter(height, width), height, width)
            image[mask] = np.asarray(COLOURS[obj.colours[t]], dtype=np.float32) + shading[mask]
            labels[t][mask] = obj.obj_id
        frames[t] = np.clip(image, 0, 255).astype(np.uint8)
    return frames, labels


def scene_facts(objects: list[SceneObject], labels: np.ndarray) -> dict[int, Facts]:
    """Ground-truth facts of each object, from the generator's state and the rendered label maps."""
    height, width = labels.shape[1:]
    facts = {}
    for obj in objects:
        diameter = obj.diameter(height, width)
        drawn = (labels == obj.obj_id).reshape(len(labels), -1).sum(axis=1)
        visible = drawn / np.array([full_area(obj.shape, diameter, *c) for c in obj.centres])
        facts[obj.obj_id] = Facts(obj.shape, obj.size, list(obj.colours), obj.centres.astype(float),
                                  np.minimum(visible, 1.0), diameter / 2)
    return facts
