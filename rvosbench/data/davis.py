"""Ref-DAVIS17 (Khoreva et al., ACCV 2018), read in place from the DAVIS 2017 release (rivals.md §1.2).

Layout (the three zips unpacked into one root; nothing is moved, unlike ReferFormer's converter)::

    <root>/DAVIS/JPEGImages/480p/<video>/<%05d>.jpg
    <root>/DAVIS/Annotations_unsupervised/480p/<video>/<%05d>.png   palette PNG, object ids, 255 = void
    <root>/DAVIS/ImageSets/2017/{train,val}.txt                     60 / 30 videos
    <root>/DAVIS/davis_semantics.json                              optional: {video: {obj_id: category}}
    <root>/davis_text_annotations/Davis17_annot1.txt, Davis17_annot1_full_video.txt,
                                  Davis17_annot2.txt, Davis17_annot2_full_video.txt

Each text line is ``<video> <obj_id> "<expression>"``; the annot2 files are latin-1, the annot1 files
UTF-8, and three video names are misspelt (fixed as the converter does). Every object gets four
expressions with ``exp_id = 4 * k + a`` (k = the object's rank by id, a = run: annotator 1 first-frame,
annotator 1 full-video, annotator 2 first-frame, annotator 2 full-video), so ``meta['anno_id'] = a``
is the ``anno_<a>`` run the ``ref_davis_u4`` protocol scores separately and averages.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rvosbench.core.errors import DataError
from rvosbench.core.registry import BENCHMARKS
from rvosbench.core.types import Sample
from rvosbench.data.base import Benchmark, check_count, expression_text
from rvosbench.data.io import (ImageFrames, LabelMapMasks, check_decoder, check_label_png, image_size, load_json,
                               read_label_map, require_dir, require_file)

DAVIS_HINT = "unzip DAVIS-2017-Unsupervised-trainval-480p.zip and davis_text_annotations.zip into the root"
#: (file, encoding, annotator, kind) in run order 0..3
TEXT_FILES = (
    ("Davis17_annot1.txt", "utf-8", 1, "first_frame"),
    ("Davis17_annot1_full_video.txt", "utf-8", 1, "full_video"),
    ("Davis17_annot2.txt", "latin-1", 2, "first_frame"),
    ("Davis17_annot2_full_video.txt", "latin-1", 2, "full_video"),
)
#: misspelt video names in the text annotations (ReferFormer tools/data/convert_davis_to_ytvos.py)
VIDEO_NAME_FIXES = {"clasic-car": "classic-car", "dog-scale": "dogs-scale", "motor-bike": "motorbike"}
SPLIT_FILES = {"train": "train.txt", "valid": "val.txt"}
SPLIT_VIDEOS = {"train": 60, "valid": 30}
VOID_LABEL = 255


def read_text_annotations(path: Path, encoding: str) -> dict[str, dict[int, str]]:
    """``{video: {obj_id: expression}}`` of one text file; a malformed line is reported with its number."""
    require_file(path, "text annotations", DAVIS_HINT)
    expressions: dict[str, dict[int, str]] = {}
    with open(path, encoding=encoding) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            parts = line.split(maxsplit=2)
            if len(parts) < 3 or not parts[1].isdigit():
                raise DataError("expected '<video> <obj_id> \"<expression>\"'", where=f"{path}:{number}",
                                hint="restore the file from davis_text_annotations.zip")
            video, obj_id, text = parts
            text = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
            video = VIDEO_NAME_FIXES.get(video, video)
            expressions.setdefault(video, {}).setdefault(int(obj_id), text)  # first of duplicates wins
    return expressions


class VoidMasks:
    """``indices -> bool (T, H, W)``: the void (label 255) pixels of the unsupervised annotations."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)

    def __call__(self, indices: Sequence[int]) -> np.ndarray:
        return np.stack([read_label_map(self.paths[i]) == VOID_LABEL for i in indices])


@BENCHMARKS.register_module("ref_davis17")
class RefDAVIS17(Benchmark):
    """Ref-DAVIS17: DAVIS 2017 + 2 annotators x {first-frame, full-video} expressions, read in place."""

    name = "ref_davis17"
    splits = ("train", "valid")
    protocol = "ref_davis_u4"
    metrics = ("J&F", "J", "F")
    has_ground_truth = {"train": True, "valid": True}

    def __init__(self, root: str | Path, split: str, decoder: str = "cv2"):
        super().__init__(root, split, decoder=check_decoder(decoder))

    @property
    def davis(self) -> Path:
        return self.root / "DAVIS"

    def validate(self) -> None:
        require_dir(self.root, "Ref-DAVIS17 root", "set root: in the benchmark config or pass --root")
        split_file = require_file(self.davis / "ImageSets" / "2017" / SPLIT_FILES[self.split], "split list", DAVIS_HINT)
        videos = [v.strip() for v in split_file.read_text().splitlines() if v.strip()]
        check_count("videos", len(videos), SPLIT_VIDEOS[self.split], str(split_file))
        require_dir(self.davis / "JPEGImages" / "480p", "frames", DAVIS_HINT)
        require_dir(self.davis / "Annotations_unsupervised" / "480p", "unsupervised annotations",
                    "unzip DAVIS-2017-Unsupervised-trainval-480p.zip (the semi-supervised Annotations are not used)")
        texts = [read_text_annotations(self.root / "davis_text_annotations" / name, encoding)
                 for name, encoding, _, _ in TEXT_FILES]
        for video in videos:
            frames = self.davis / "JPEGImages" / "480p" / video
            masks = self.davis / "Annotations_unsupervised" / "480p" / video
            require_dir(frames, f"frames of '{video}' (listed in {split_file.name})", DAVIS_HINT)
            require_dir(masks, f"annotations of '{video}'", DAVIS_HINT)
            names = sorted(p.stem for p in frames.glob("*.jpg"))
            missing = [n for n in names if not (masks / f"{n}.png").is_file()]
            if not names or missing:
                raise DataError(f"video '{video}': {len(names)} frames, {len(missing)} without an annotation"
                                + (f" (first {missing[0]}.png)" if missing else ""), where=str(masks), hint=DAVIS_HINT)
            if not any(video in text for text in texts):
                raise DataError(f"video '{video}' has no text annotation", where=str(self.root / "davis_text_annotations"),
                                hint=DAVIS_HINT)
        self._videos, self._texts = videos, texts

    def _categories(self) -> dict[str, dict[str, str]]:
        path = self.davis / "davis_semantics.json"
        return load_json(path, "categories", DAVIS_HINT) if path.is_file() else {}

    def _build_samples(self) -> list[Sample]:
        decoder = self.options["decoder"]
        categories = self._categories()
        samples = []
        for video in sorted(self._videos):
            frame_dir = self.davis / "JPEGImages" / "480p" / video
            names = sorted(p.stem for p in frame_dir.glob("*.jpg"))
            frame_paths = [frame_dir / f"{n}.jpg" for n in names]
            mask_paths = [self.davis / "Annotations_unsupervised" / "480p" / video / f"{n}.png" for n in names]
            size = image_size(frame_paths[0])
            check_label_png(mask_paths[0])  # a greyscale or colour mask is refused now, not when scored
            frames, void = ImageFrames(frame_paths, decoder), VoidMasks(mask_paths)
            objects = sorted({obj for text in self._texts for obj in text.get(video, {})})
            for rank, obj in enumerate(objects):
                for run, (text, (_, _, annotator, kind)) in enumerate(zip(self._texts, TEXT_FILES)):
                    if obj not in text.get(video, {}):
                        continue
                    meta: dict[str, Any] = {
                        "category": categories.get(video, {}).get(str(obj)), "tags": [kind],
                        "anno_id": run, "obj_id": obj, "annotator": annotator, "kind": kind,
                        "load_void_fn": void}
                    samples.append(Sample(
                        benchmark=self.name, split=self.split, video_id=video, exp_id=str(4 * rank + run),
                        text=expression_text(text[video][obj], f"{self.root / 'davis_text_annotations' / TEXT_FILES[run][0]} (video {video}, object {obj})"), obj_ids=[obj], frame_names=names,
                        annotated=[True] * len(names), orig_size=size, meta=meta, load_frames_fn=frames,
                        load_masks_fn=LabelMapMasks(mask_paths, [obj], size)))
        samples.sort(key=lambda s: (s.video_id, int(s.exp_id)))
        return samples

    def annotation_files(self) -> list[Path]:
        files = [self.davis / "ImageSets" / "2017" / SPLIT_FILES[self.split]]
        files += [self.root / "davis_text_annotations" / name for name, *_ in TEXT_FILES]
        self.sample_list()  # validates and indexes on first use
        for video in self._videos:
            files += sorted((self.davis / "Annotations_unsupervised" / "480p" / video).glob("*.png"))
        return files
