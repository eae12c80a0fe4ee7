"""Segment your own video: a trained model, a folder of frames or a video file, and a sentence.

Writes ``<out>/masks/<frame>.png`` (0/255, original size, one per frame), ``<out>/overlay.gif`` (or
``.mp4``) with the mask blended over the frames under a caption strip with the sentence, and
``<out>/prediction.json`` (frames, sizes, per-frame referring scores when the model gives them).
The video is read with OpenCV (``torchvision.io`` cannot decode beside the CPU torch); frames of a
folder are taken in natural order of their file names (``2.jpg`` before ``10.jpg``).
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw

from rvosbench.core.errors import DataError, UserError
from rvosbench.core.types import Prediction, Sample
from rvosbench.data.io import read_rgb
from rvosbench.engine.evaluation import ModelPredictor

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif"}
# Tints the overlay can use; the one farthest from the segmented object's mean colour is chosen, so a red
# object is not tinted red (where the tint would hide whether the mask covers it).
OVERLAY_COLOURS = np.array([[0, 229, 255], [255, 0, 220], [255, 230, 0], [40, 255, 60], [40, 90, 255],
                            [255, 40, 40]], dtype=np.float32)
MIN_OVERLAY_WIDTH = 320  # px; smaller videos are enlarged in the overlay so the caption stays legible


def natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


@dataclass
class Video:
    frames: np.ndarray  # uint8 (T, H, W, 3)
    names: list[str]
    fps: float


def read_video(path: str | Path, max_frames: int | None = None, stride: int = 1) -> Video:
    """Frames of a folder of images or of a video file, every ``stride``-th, at most ``max_frames``."""
    path = Path(path)
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name))
        files = files[::stride][:max_frames]
        if not files:
            raise DataError("no image files in the folder", where=str(path),
                            hint=f"give a folder of {'/'.join(sorted(IMAGE_SUFFIXES))} frames or a video file")
        frames = [read_rgb(p) for p in files]
        sizes = {f.shape for f in frames}
        if len(sizes) > 1:
            raise DataError(f"frames have different sizes {sorted(sizes)[:2]}", where=str(path),
                            hint="all frames of a video must have one size")
        return Video(np.stack(frames), [p.stem for p in files], 25.0 / stride)
    if not path.is_file():
        raise UserError("video not found", where=str(path), hint="give a folder of frames or a video file")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise DataError(f"unsupported video type '{path.suffix}'", where=str(path),
                        hint=f"use one of {', '.join(sorted(VIDEO_SUFFIXES))} or a folder of frames")
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames, index = [], 0
    while max_frames is None or len(frames) < max_frames:
        ok, frame = capture.read()
        if not ok:
            break
        if index % stride == 0:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        index += 1
    capture.release()
    if not frames:
        raise DataError("cannot decode any frame", where=str(path),
                        hint="the file is corrupt or its codec is unsupported; extract frames with ffmpeg")
    return Video(np.stack(frames), [f"{i * stride:05d}" for i in range(len(frames))], fps / stride)


def as_sample(video: Video, text: str) -> Sample:
    frames = video.frames
    return Sample(benchmark="user", split="predict", video_id="video", exp_id="0", text=" ".join(text.lower().split()),
                  obj_ids=[], frame_names=video.names, annotated=[False] * len(video.names),
                  orig_size=tuple(frames.shape[1:3]), load_frames_fn=lambda idx: frames[list(idx)])


def caption_lines(draw: ImageDraw.ImageDraw, text: str, width: int) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` pixels (a long word stays whole)."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines or [""]


def contrast_colour(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The overlay tint farthest (RGB distance, weighted by the eye's sensitivity) from the mean colour of
    the masked pixels (of the whole video when the mask is empty)."""
    inside = frames[masks.astype(bool)] if masks.any() else frames.reshape(-1, 3)
    mean = inside.reshape(-1, 3).astype(np.float32).mean(axis=0)
    weights = np.array([0.30, 0.59, 0.11], dtype=np.float32)
    distance = (((OVERLAY_COLOURS - mean) ** 2) * weights).sum(axis=1)
    return OVERLAY_COLOURS[int(np.argmax(distance))]


def overlay(frames: np.ndarray, masks: np.ndarray, text: str, alpha: float = 0.55) -> list[Image.Image]:
    """Frames with the mask tinted (in a colour that contrasts with the object, :func:`contrast_colour`) and
    outlined, under a caption strip holding the (wrapped) sentence.

    Videos narrower than :data:`MIN_OVERLAY_WIDTH` are enlarged by a whole factor (nearest neighbour, so
    mask edges stay exact) first: drawn on an 80-px synth frame, the caption would be cut off.
    """
    height, width = frames.shape[1:3]
    scale = max(1, -(-MIN_OVERLAY_WIDTH // width))
    size = (width * scale, height * scale)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = caption_lines(measure, text, size[0] - 8)
    line_height = measure.textbbox((0, 0), "Ag")[3] + 3
    strip = len(lines) * line_height + 6
    tint = contrast_colour(frames, masks)
    images = []
    for frame, mask in zip(frames, masks):
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST)
        mask_u8 = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        inside = mask_u8.astype(bool)
        blended = frame.astype(np.float32)
        blended[inside] = (1 - alpha) * blended[inside] + alpha * tint
        image = blended.astype(np.uint8)
        contours, _ = cv2.findContours(mask_u8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(image, contours, -1, (255, 255, 255), max(1, size[1] // 240))
        canvas = Image.new("RGB", (size[0], size[1] + strip))
        canvas.paste(Image.fromarray(image), (0, strip))
        draw = ImageDraw.Draw(canvas)
        for row, line in enumerate(lines):
            draw.text((4, 3 + row * line_height), line, fill=(255, 255, 255))
        images.append(canvas)
    return images


def write_outputs(out: Path, video: Video, prediction: Prediction, text: str, animation: str = "gif") -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    for name, mask in zip(video.names, prediction.masks):
        Image.fromarray(mask.astype(np.uint8) * 255).save(out / "masks" / f"{name}.png")
    images = overlay(video.frames, prediction.masks, text)
    if animation == "mp4":
        path = out / "overlay.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), video.fps, images[0].size)
        for image in images:
            writer.write(cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR))
        writer.release()
    else:
        path = out / "overlay.gif"
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / video.fps), loop=0)
    info = {"text": text, "frames": video.names, "size": list(video.frames.shape[1:3]), "animation": path.name,
            "mask_pixels": [int(m.sum()) for m in prediction.masks],
            "scores": None if prediction.scores is None else [float(s) for s in prediction.scores]}
    (out / "prediction.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def predict_video(model: torch.nn.Module, card: Mapping[str, Any], video: Video, text: str, window: int | None,
                  device: torch.device) -> Prediction:
    """Run ``model`` on the whole video (in windows) through the card's evaluation transform."""
    from rvosbench.data import transforms

    if not text.strip():
        raise UserError("the sentence is empty", where="--text", hint='say which object to segment, e.g. --text "the red car"')
    predictor = ModelPredictor(model, transforms.eval_transform(dict(card.get("input") or {})), window, device)
    return predictor(as_sample(video, text))
