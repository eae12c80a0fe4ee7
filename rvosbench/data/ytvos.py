"""Ref-YouTube-VOS and the Ref-YouTube-VOS folder layout (also read by ``synth``).

Layout (rivals.md §1.1)::

    <root>/meta_expressions/<split>/meta_expressions.json   {"videos": {vid: {"expressions": {id: {"exp", "obj_id"}}, "frames": [...]}}}
    <root>/<split>/JPEGImages/<vid>/<frame>.jpg
    <root>/<split>/Annotations/<vid>/<frame>.png             palette PNG, pixel value = obj_id
    <root>/<split>/meta.json                                 {"videos": {vid: {"objects": {obj_id: {"category", "frames"}}}}}

The valid meta lists 507 videos (202 valid + 305 competition test); like every rival repo, the valid split
keeps the videos *not* listed in ``meta_expressions/test/meta_expressions.json`` (202 remain). Valid
expressions have no ``obj_id`` and valid has no masks: it is scored on the server only.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from rvosbench.core.errors import DataError
from rvosbench.core.registry import BENCHMARKS
from rvosbench.core.types import Sample
from rvosbench.data.base import Benchmark, check_count, expression_text
from rvosbench.data.io import (ImageFrames, LabelMapMasks, check_decoder, check_label_png, expect_mapping, image_size,
                               load_json, require_dir, require_file)

RELEASE_HINT = "restore it from the Ref-YouTube-VOS release (see docs/benchmarks.md)"


def parse_obj_ids(value: Any, where: str) -> list[int]:
    """``"3"`` / ``3`` (Ref-YouTube-VOS) or ``[1, 4]`` (MeViS-style sets) → list of ints."""
    items = value if isinstance(value, list) else [value]
    try:
        return [int(v) for v in items]
    except (TypeError, ValueError) as error:
        raise DataError(f"obj_id {value!r} is not an integer (or a list of integers)", where=where,
                        hint="restore the file from the dataset release") from error


class YouTubeVOSLayout(Benchmark):
    """Reader of the Ref-YouTube-VOS folder layout; subclasses choose splits, folders and ground truth.

    Options: ``decoder`` (``cv2`` or ``pil``) for frames.
    """

    protocol = "per_expression"
    metrics = ("J&F", "J", "F")
    frame_ext: ClassVar[str] = ".jpg"
    #: expression keys a split with ground truth must have
    gt_keys: ClassVar[tuple[str, ...]] = ("obj_id",)
    release_hint: ClassVar[str] = RELEASE_HINT
    #: masks are palette PNGs under ``<split>/Annotations`` (MeViS keeps RLEs in mask_dict.json instead)
    palette_masks: ClassVar[bool] = True

    def __init__(self, root: str | Path, split: str, decoder: str = "cv2"):
        super().__init__(root, split, decoder=check_decoder(decoder))

    def split_folder(self) -> str:
        """Folder name of the split under the root (and under ``meta_expressions``)."""
        return self.split

    @property
    def meta_path(self) -> Path:
        return self.root / "meta_expressions" / self.split_folder() / "meta_expressions.json"

    @property
    def split_dir(self) -> Path:
        return self.root / self.split_folder()

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        require_dir(self.root, f"{self.name} root", "set root: in the benchmark config or pass --root")
        require_file(self.meta_path, "expressions", self.release_hint)
        require_dir(self.split_dir / "JPEGImages", "frames", self.release_hint)
        if self.ground_truth and self.palette_masks:
            require_dir(self.split_dir / "Annotations", "masks", self.release_hint)
        self._videos = self._read_videos()

    def _read_meta_videos(self, path: Path) -> dict[str, Any]:
        meta = expect_mapping(load_json(path, "expressions", self.release_hint), str(path), "<top level>")
        if "videos" not in meta:
            raise DataError("missing key 'videos'", where=str(path), hint=self.release_hint)
        return expect_mapping(meta["videos"], str(path), "videos")

    def _read_videos(self) -> dict[str, dict[str, Any]]:
        """Parsed and checked ``videos`` of the split's meta_expressions.json (after any filtering)."""
        path = self.meta_path
        videos = self._select_videos(self._read_meta_videos(path))
        frames_root = self.split_dir / "JPEGImages"
        for vid, video in videos.items():
            where = f"{path} (key videos.{vid}"
            expect_mapping(video, where + ")", f"videos.{vid}")
            for key in ("expressions", "frames"):
                if key not in video:
                    raise DataError(f"video '{vid}' has no '{key}'", where=where + ")", hint=self.release_hint)
            expect_mapping(video["expressions"], where + ".expressions)", f"videos.{vid}.expressions")
            if not isinstance(video["frames"], list) or not video["frames"]:
                raise DataError(f"video '{vid}' has an empty or malformed frame list", where=where + ".frames)",
                                hint=self.release_hint)
            for exp_id, exp in video["expressions"].items():
                key = f"{where}.expressions.{exp_id}"
                if not isinstance(exp, dict) or not isinstance(exp.get("exp"), str):
                    raise DataError("expression has no text 'exp'", where=key + ")", hint=self.release_hint)
                for required in self.gt_keys if self.ground_truth else ():
                    if required not in exp:
                        raise DataError(f"expression has no '{required}'", where=key + ")", hint=self.release_hint)
            folder = frames_root / vid
            if not folder.is_dir():
                raise DataError(f"video '{vid}' is listed in {path.name} but has no frames folder", where=str(folder),
                                hint=self.release_hint)
            present = set(os.listdir(folder))
            missing = [f for f in video["frames"] if f"{f}{self.frame_ext}" not in present]
            if missing:
                raise DataError(f"{len(missing)} listed frame(s) missing, first '{missing[0]}{self.frame_ext}'",
                                where=str(folder), hint=self.release_hint)
        return videos

    def _select_videos(self, videos: dict[str, Any]) -> dict[str, Any]:
        """Hook: restrict the meta's videos to the split's members (Ref-YouTube-VOS valid drops test)."""
        return videos

    def _object_meta(self) -> dict[str, dict[str, Any]]:
        """``{vid: {obj_id: {...}}}`` from ``<split>/meta.json`` when the split ships one."""
        path = self.split_dir / "meta.json"
        if not path.is_file():
            return {}
        meta = expect_mapping(load_json(path, "object categories", self.release_hint), str(path), "<top level>")
        videos = expect_mapping(meta.get("videos", {}), str(path), "videos")
        return {vid: v.get("objects", {}) if isinstance(v, dict) else {} for vid, v in videos.items()}

    # -- indexing -----------------------------------------------------------------------------
    def _expression_meta(self, exp: dict[str, Any]) -> dict[str, Any]:
        """Hook: extra per-expression metadata (synth stores its type tags in the expression)."""
        return {"tags": list(exp.get("tags", []))}

    def _build_samples(self) -> list[Sample]:
        decoder = self.options["decoder"]
        objects = self._object_meta()
        samples = []
        for vid in sorted(self._videos):
            video = self._videos[vid]
            frames = [str(f) for f in video["frames"]]
            frame_paths = [self.split_dir / "JPEGImages" / vid / f"{f}{self.frame_ext}" for f in frames]
            size = image_size(frame_paths[0])
            if self.ground_truth and self.palette_masks:  # a greyscale or colour mask is refused now, not when scored
                check_label_png(self.split_dir / "Annotations" / vid / f"{frames[0]}.png")
            loader = ImageFrames(frame_paths, decoder)
            for exp_id in sorted(video["expressions"], key=_natural_key):
                exp = video["expressions"][exp_id]
                where = f"{self.meta_path} (key videos.{vid}.expressions.{exp_id}.obj_id)"
                obj_ids = parse_obj_ids(exp["obj_id"], where) if "obj_id" in exp else []
                categories = [objects.get(vid, {}).get(str(o), {}).get("category") for o in obj_ids]
                meta = {"category": categories[0] if categories else None, **self._expression_meta(exp)}
                if len(obj_ids) > 1:
                    meta["categories"] = categories
                masks = self._mask_loader(vid, frames, exp, obj_ids, size) if self.ground_truth else None
                samples.append(Sample(
                    benchmark=self.name, split=self.split, video_id=vid, exp_id=str(exp_id),
                    text=expression_text(exp.get("exp"), f"{self.meta_path} (key videos.{vid}.expressions.{exp_id}.exp)"), obj_ids=obj_ids, frame_names=frames,
                    annotated=[self.ground_truth] * len(frames), orig_size=size, meta=meta,
                    load_frames_fn=loader, load_masks_fn=masks))
        return samples

    def _mask_loader(self, vid: str, frames: list[str], exp: dict[str, Any], obj_ids: list[int],
                     size: tuple[int, int]) -> Any:
        """Hook: the sample's mask loader (palette PNGs here; MeViS decodes RLE)."""
        paths = [self.split_dir / "Annotations" / vid / f"{f}.png" for f in frames]
        return LabelMapMasks(paths, obj_ids, size)

    def annotation_files(self) -> list[Path]:
        files = [self.meta_path]
        if (self.split_dir / "meta.json").is_file():
            files.append(self.split_dir / "meta.json")
        if self.ground_truth:
            for sample in self.samples():
                files.extend(self.split_dir / "Annotations" / sample.video_id / f"{f}.png" for f in sample.frame_names)
        return files


def _natural_key(exp_id: str) -> tuple[int, Any]:
    """Expression ids are "0", "1", … "10": order them as numbers when they are numbers."""
    return (0, int(exp_id)) if str(exp_id).isdigit() else (1, str(exp_id))


@BENCHMARKS.register_module("ref_youtube_vos")
class RefYouTubeVOS(YouTubeVOSLayout):
    """Ref-YouTube-VOS (URVOS, ECCV 2020): train with masks; valid (202 videos) scored on the server."""

    name = "ref_youtube_vos"
    splits = ("train", "valid")
    has_ground_truth = {"train": True, "valid": False}
    # rivals.md §1.1: MTTR asserts 3,471 train folders; the valid meta lists 507 videos / 2,096
    # expressions, and 202 videos remain after removing the competition-test ones.
    TRAIN_VIDEOS = 3471
    VALID_META_VIDEOS, VALID_META_EXPRESSIONS, VALID_VIDEOS = 507, 2096, 202

    def validate(self) -> None:
        if self.split == "valid":
            require_file(self.root / "meta_expressions" / "test" / "meta_expressions.json",
                         "competition-test expressions, needed to select the 202 valid videos",
                         "the official site no longer ships it; ReferFormer re-hosts it (ReferFormer issue #6)")
        super().validate()

    def _select_videos(self, videos: dict[str, Any]) -> dict[str, Any]:
        where = str(self.meta_path)
        if self.split == "train":
            check_count("videos", len(videos), self.TRAIN_VIDEOS, where)
            return videos
        check_count("listed videos", len(videos), self.VALID_META_VIDEOS, where)
        expressions = sum(len(v.get("expressions", {})) for v in videos.values() if isinstance(v, dict))
        check_count("listed expressions", expressions, self.VALID_META_EXPRESSIONS, where)
        test = self._read_meta_videos(self.root / "meta_expressions" / "test" / "meta_expressions.json")
        kept = {vid: v for vid, v in videos.items() if vid not in test}
        check_count("videos after removing the competition-test videos", len(kept), self.VALID_VIDEOS, where)
        return kept
