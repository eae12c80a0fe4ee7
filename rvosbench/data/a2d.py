"""A2D-Sentences (Gavrilyuk et al., CVPR 2018), the layout MTTR and ReferFormer read (rivals.md §1.3).

Layout::

    <root>/Release/videoset.csv                       no header: vid,label,start,end,height,width,frames,annotated,subset
    <root>/Release/clips320H/<vid>.mp4                 (or pre-extracted frames: option ``frames_dir``)
    <root>/text_annotations/a2d_annotation.txt         CSV with header video_id,instance_id,query
    <root>/text_annotations/a2d_missed_videos.txt      one excluded video id per line
    <root>/text_annotations/a2d_annotation_with_instances/<vid>/<%05d>.h5   per annotated frame (1-based)

An h5 frame file holds ``instance`` (N,), ``reMask`` (N, W, H) — stored transposed, and (W, H) when N = 1 —,
``reBBox`` (4, N) and ``id`` (1, N) actor-action class ids. A sample is one (video, query) row; its
annotated frames are the h5 frames in which its instance appears (frames where it is absent are not
scored, following CMPC-V/MTTR). The row whose instance id is the literal ``1 (copy)`` (video
T6bNPuKV-wY) is dropped, as MTTR does. ``subset`` 0 is train, 1 is test.
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np

from rvosbench.core.errors import DataError
from rvosbench.core.registry import BENCHMARKS
from rvosbench.core.types import Sample
from rvosbench.data.base import Benchmark, check_count, expression_text
from rvosbench.data.io import ImageFrames, check_decoder, require_dir, require_file

A2D_HINT = "restore it from the A2D-Sentences release (see docs/benchmarks.md)"
A2D_METRICS = ("mAP", "oIoU", "mIoU", "P@0.5", "P@0.6", "P@0.7", "P@0.8", "P@0.9", "AP50", "AP75", "mAP_top1")
SUBSETS = {"train": 0, "test": 1}
VIDEOSET_ROWS, ANNOTATION_ROWS = 3782, 6655  # MTTR asserts both (rivals.md §1.3)
KNOWN_BAD_INSTANCE = "1 (copy)"
ACTORS = ("adult", "baby", "ball", "bird", "car", "cat", "dog")
ACTIONS = ("climbing", "crawling", "eating", "flying", "jumping", "rolling", "running", "walking", "none")


def actor_action(class_id: int) -> str | None:
    """A2D class id (actor * 10 + action, both 1-based) → ``adult-walking``; None when out of range."""
    actor, action = divmod(int(class_id), 10)
    if 1 <= actor <= len(ACTORS) and 1 <= action <= len(ACTIONS):
        return f"{ACTORS[actor - 1]}-{ACTIONS[action - 1]}"
    return None


def read_h5_frame(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(instance ids (N,), class ids (N,), masks bool (N, H, W)) of one annotated frame."""
    try:
        with h5py.File(path, "r") as handle:
            instances = np.asarray(handle["instance"]).ravel().astype(np.int64)
            classes = np.asarray(handle["id"]).ravel().astype(np.int64) if "id" in handle else np.zeros_like(instances)
            masks = np.asarray(handle["reMask"])
    except KeyError as error:
        raise DataError(f"missing key {error}", where=str(path), hint=A2D_HINT) from error
    except OSError as error:
        raise DataError(f"cannot read h5 file: {error}", where=str(path), hint=A2D_HINT) from error
    if masks.ndim == 2:
        masks = masks[None]
    if masks.shape[0] != len(instances):
        raise DataError(f"reMask holds {masks.shape[0]} masks for {len(instances)} instances", where=str(path),
                        hint=A2D_HINT)
    return instances, classes, masks.transpose(0, 2, 1) > 0  # stored (N, W, H)


def read_h5_index(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(instance ids, class ids, (H, W)) without reading the masks."""
    try:
        with h5py.File(path, "r") as handle:
            instances = np.asarray(handle["instance"]).ravel().astype(np.int64)
            classes = np.asarray(handle["id"]).ravel().astype(np.int64) if "id" in handle else np.zeros_like(instances)
            shape = handle["reMask"].shape
    except KeyError as error:
        raise DataError(f"missing key {error}", where=str(path), hint=A2D_HINT) from error
    except OSError as error:
        raise DataError(f"cannot read h5 file: {error}", where=str(path), hint=A2D_HINT) from error
    return instances, classes, (int(shape[-1]), int(shape[-2]))


class H5InstanceMasks:
    """``indices -> bool (T, H, W)``: the instance's mask on annotated frames, empty elsewhere."""

    def __init__(self, files: dict[int, Path], instance_id: int, size: tuple[int, int]):
        self.files = files
        self.instance_id = instance_id
        self.size = size

    def __call__(self, indices: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(indices), *self.size), dtype=bool)
        for row, i in enumerate(indices):
            if i in self.files:
                instances, _, masks = read_h5_frame(self.files[i])
                hits = np.nonzero(instances == self.instance_id)[0]
                if len(hits):
                    out[row] = masks[hits[0]]
        return out


_DECODED: dict[str, Any] = {"path": None, "frames": None}


class VideoFileFrames:
    """``indices -> uint8 (T, H, W, 3)`` from an mp4, decoded sequentially with OpenCV.

    Seeking in mp4 is not frame-exact, so the whole clip is decoded in order once and the last clip is
    kept (samples are visited video by video, so consecutive expressions of a clip decode it once).
    """

    def __init__(self, path: Path):
        self.path = path

    def decode_all(self) -> np.ndarray:
        if _DECODED["path"] != self.path:
            capture = cv2.VideoCapture(str(self.path))
            frames = []
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            capture.release()
            if not frames:
                raise DataError("cannot decode video", where=str(self.path), hint=A2D_HINT)
            _DECODED.update(path=self.path, frames=np.stack(frames))
        return _DECODED["frames"]

    def __call__(self, indices: Sequence[int]) -> np.ndarray:
        frames = self.decode_all()
        return frames[np.minimum(np.asarray(list(indices)), len(frames) - 1)]


def forget_decoded_clip() -> None:
    """Drop the one decoded clip kept by :class:`VideoFileFrames` (frees its memory)."""
    _DECODED.update(path=None, frames=None)


def video_frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    if count <= 0:
        raise DataError("cannot read the frame count of the video", where=str(path), hint=A2D_HINT)
    return count


@BENCHMARKS.register_module("a2d_sentences")
class A2DSentences(Benchmark):
    """A2D-Sentences: per-frame h5 instance masks of sampled frames; P@K, IoU and mAP over (frame, query) units.

    Options: ``frames_dir`` (relative to the root) reads pre-extracted frames ``<frames_dir>/<vid>/<%05d>.png``
    (or .jpg, 1-based) instead of decoding ``Release/clips320H/<vid>.mp4``; ``decoder`` for those images.
    """

    name = "a2d_sentences"
    splits = ("train", "test")
    protocol = "a2d"
    metrics = A2D_METRICS
    has_ground_truth = {"train": True, "test": True}

    def __init__(self, root: str | Path, split: str, frames_dir: str | None = None, decoder: str = "cv2"):
        super().__init__(root, split, frames_dir=frames_dir, decoder=check_decoder(decoder))

    @property
    def h5_root(self) -> Path:
        return self.root / "text_annotations" / "a2d_annotation_with_instances"

    def _videoset(self) -> dict[str, int]:
        path = require_file(self.root / "Release" / "videoset.csv", "video list", A2D_HINT)
        subsets = {}
        with open(path, newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if len(row) != 9 or row[8].strip() not in ("0", "1"):
                    raise DataError(f"expected 9 columns ending in subset 0/1, found {len(row)} columns",
                                    where=f"{path}:{number}", hint=A2D_HINT)
                subsets[row[0]] = int(row[8])
        check_count("rows", len(subsets), VIDEOSET_ROWS, str(path))
        return subsets

    def _annotations(self) -> list[tuple[int, str, int, str]]:
        """(line, video, instance, query) rows, the known ``1 (copy)`` row dropped."""
        path = require_file(self.root / "text_annotations" / "a2d_annotation.txt", "expressions", A2D_HINT)
        rows = []
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"video_id", "instance_id", "query"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(f"header lacks column(s) {sorted(missing)}", where=f"{path}:1", hint=A2D_HINT)
            count = 0
            for number, row in enumerate(reader, start=2):
                count += 1
                instance = (row["instance_id"] or "").strip()
                if instance == KNOWN_BAD_INSTANCE:
                    continue
                if not instance.isdigit():
                    raise DataError(f"instance_id {instance!r} is not an integer", where=f"{path}:{number}",
                                    hint=A2D_HINT)
                rows.append((number, row["video_id"], int(instance), row["query"] or ""))
        check_count("rows", count, ANNOTATION_ROWS, str(path))
        return rows

    def validate(self) -> None:
        require_dir(self.root, "A2D-Sentences root", "set root: in the benchmark config or pass --root")
        subsets = self._videoset()
        missed_path = require_file(self.root / "text_annotations" / "a2d_missed_videos.txt", "excluded videos",
                                   A2D_HINT)
        missed = {line.strip() for line in missed_path.read_text(encoding="utf-8").splitlines() if line.strip()}
        require_dir(self.h5_root, "instance masks", A2D_HINT)
        videos = {v for v, subset in subsets.items() if subset == SUBSETS[self.split] and v not in missed}
        rows = [r for r in self._annotations() if r[1] in videos]
        frames_dir = self.options.get("frames_dir")
        for video in sorted({r[1] for r in rows}):
            require_dir(self.h5_root / video, f"masks of video '{video}'", A2D_HINT)
            if frames_dir:
                require_dir(self.root / frames_dir / video, f"frames of video '{video}'", "check frames_dir")
            else:
                require_file(self.root / "Release" / "clips320H" / f"{video}.mp4", f"clip of video '{video}'",
                             "restore Release/clips320H, or set frames_dir: to pre-extracted frames")
        self._rows = rows

    def _frames(self, video: str) -> tuple[list[str], Any]:
        frames_dir = self.options.get("frames_dir")
        if frames_dir:
            folder = self.root / frames_dir / video
            paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
            return [p.stem for p in paths], ImageFrames(paths, self.options["decoder"])
        path = self.root / "Release" / "clips320H" / f"{video}.mp4"
        return [f"{i:05d}" for i in range(1, video_frame_count(path) + 1)], VideoFileFrames(path)

    def _build_samples(self) -> list[Sample]:
        samples = []
        by_video: dict[str, list[tuple[int, str, int, str]]] = {}
        for row in self._rows:
            by_video.setdefault(row[1], []).append(row)
        for video in sorted(by_video):
            h5_files = {int(p.stem) - 1: p for p in sorted((self.h5_root / video).glob("*.h5")) if p.stem.isdigit()}
            index = {i: read_h5_index(p) for i, p in h5_files.items()}
            names, frames = self._frames(video)
            if not index:
                continue
            size = next(iter(index.values()))[2]
            for exp_id, (_, _, instance, query) in enumerate(by_video[video]):
                annotated = [i in index and instance in index[i][0] for i in range(len(names))]
                if not any(annotated):
                    continue  # the instance appears in no annotated frame: MTTR makes no sample of it
                first = next(i for i, a in enumerate(annotated) if a)
                classes = dict(zip(index[first][0].tolist(), index[first][1].tolist()))
                meta = {"category": actor_action(classes[instance]), "tags": [], "instance_id": instance}
                files = {i: h5_files[i] for i, a in enumerate(annotated) if a}
                samples.append(Sample(
                    benchmark=self.name, split=self.split, video_id=video, exp_id=str(exp_id),
                    text=expression_text(query, f"{self.root / 'text_annotations' / 'a2d_annotation.txt'} (video {video}, instance {instance})"), obj_ids=[instance], frame_names=names, annotated=annotated,
                    orig_size=size, meta=meta, load_frames_fn=frames,
                    load_masks_fn=H5InstanceMasks(files, instance, size)))
        return samples

    def annotation_files(self) -> list[Path]:
        files = [self.root / "Release" / "videoset.csv", self.root / "text_annotations" / "a2d_annotation.txt",
                 self.root / "text_annotations" / "a2d_missed_videos.txt"]
        for video in sorted({s.video_id for s in self.samples()}):
            files += sorted((self.h5_root / video).glob("*.h5"))
        return files
