"""JHMDB-Sentences (Gavrilyuk et al., CVPR 2018): evaluation only (rivals.md §1.4).

Layout::

    <root>/Rename_Images/<action>/<video>/<%05d>.png           1-based frame names
    <root>/puppet_mask/<action>/<video>/puppet_mask.mat        key 'part_mask', shape (H, W, T)
    <root>/jhmdb_annotation.txt                                CSV with header video_id,query (928 rows)
    <root>/jhmdb_sentences_samples_metadata.json               the 3 frames per video MTTR sampled once

Frame ``i`` (1-based) uses mask ``i - 1``; trailing frames without a mask are dropped. The scored frames
are the ones fixed in the shipped metadata file (the README says "uniform", the code drew them at
random: always use the shipped file, as every rival does); its rows are
``[video_id, "./jhmdb_sentences/Rename_Images/<action>/<video>/<frame>.png", mask path, frames, query]``.
Option ``sampled_frames: all`` scores every frame with a mask instead (not comparable with papers).
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

from rvosbench.core.errors import ConfigError, DataError
from rvosbench.core.registry import BENCHMARKS
from rvosbench.core.types import Sample
from rvosbench.data.a2d import A2D_METRICS
from rvosbench.data.base import Benchmark, check_count, expression_text
from rvosbench.data.io import ImageFrames, check_decoder, load_json, require_dir, require_file

JHMDB_HINT = "restore it from the JHMDB-Sentences release (see docs/benchmarks.md)"
METADATA_HINT = "use the jhmdb_sentences_samples_metadata.json that MTTR ships (datasets/jhmdb_sentences/)"
VIDEOS, SAMPLED = 928, 2784  # rivals.md §1.4


def read_part_mask(path: Path) -> np.ndarray:
    """``part_mask`` (H, W, T) of a puppet_mask.mat as bool (T, H, W)."""
    try:
        data = scipy.io.loadmat(str(path))
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read .mat file: {error}", where=str(path), hint=JHMDB_HINT) from error
    if "part_mask" not in data or np.ndim(data["part_mask"]) != 3:
        raise DataError("missing key 'part_mask' of shape (H, W, T)", where=str(path), hint=JHMDB_HINT)
    return data["part_mask"].transpose(2, 0, 1) > 0


class PuppetMasks:
    """``indices -> bool (T, H, W)`` from one puppet_mask.mat (read once per sample on first use)."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, indices: Sequence[int]) -> np.ndarray:
        masks = read_part_mask(self.path)
        return masks[list(indices)]


@BENCHMARKS.register_module("jhmdb_sentences")
class JHMDBSentences(Benchmark):
    """JHMDB-Sentences: 928 clips, one expression each, 3 fixed sampled frames scored (evaluation only)."""

    name = "jhmdb_sentences"
    splits = ("test",)
    protocol = "a2d"
    metrics = A2D_METRICS
    has_ground_truth = {"test": True}

    def __init__(self, root: str | Path, split: str = "test", sampled_frames: str = "metadata",
                 samples_metadata: str = "jhmdb_sentences_samples_metadata.json", decoder: str = "cv2"):
        if sampled_frames not in ("metadata", "all"):
            raise ConfigError(f"sampled_frames must be 'metadata' or 'all', got {sampled_frames!r}",
                              where="sampled_frames")
        super().__init__(root, split, sampled_frames=sampled_frames, samples_metadata=samples_metadata,
                         decoder=check_decoder(decoder))

    @property
    def metadata_path(self) -> Path:
        return self.root / self.options["samples_metadata"]

    def validate(self) -> None:
        require_dir(self.root, "JHMDB-Sentences root", "set root: in the benchmark config or pass --root")
        path = require_file(self.root / "jhmdb_annotation.txt", "expressions", JHMDB_HINT)
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if {"video_id", "query"} - set(reader.fieldnames or []):
                raise DataError("header must be 'video_id,query'", where=f"{path}:1", hint=JHMDB_HINT)
            rows = [(n, r["video_id"], r["query"] or "") for n, r in enumerate(reader, start=2)]
        check_count("rows", len(rows), VIDEOS, str(path))
        require_dir(self.root / "Rename_Images", "frames", JHMDB_HINT)
        folders = {p.name: p for p in (self.root / "Rename_Images").glob("*/*") if p.is_dir()}
        masks = {p.parent.name: p for p in (self.root / "puppet_mask").glob("*/*/puppet_mask.mat")}
        for number, video, _ in rows:
            if video not in folders:
                raise DataError(f"video '{video}' has no Rename_Images/<action>/{video} folder",
                                where=f"{path}:{number}", hint=JHMDB_HINT)
            if video not in masks:
                raise DataError(f"video '{video}' has no puppet_mask/<action>/{video}/puppet_mask.mat",
                                where=f"{path}:{number}", hint=JHMDB_HINT)
        self._rows, self._folders, self._masks = rows, folders, masks
        self._sampled = self._read_sampled_frames() if self.options["sampled_frames"] == "metadata" else None

    def _read_sampled_frames(self) -> dict[str, set[str]]:
        """``{video: {frame name}}`` from the shipped metadata, every path checked."""
        path = self.metadata_path
        rows = load_json(path, "sampled frames", METADATA_HINT)
        if not isinstance(rows, list):
            raise DataError("expected a list of [video_id, frame_path, mask_path, frames, query] rows",
                            where=str(path), hint=METADATA_HINT)
        sampled: dict[str, set[str]] = {}
        for number, row in enumerate(rows):
            where = f"{path} (row {number})"
            if not isinstance(row, list) or len(row) != 5:
                raise DataError("expected [video_id, frame_path, mask_path, frames, query]", where=where,
                                hint=METADATA_HINT)
            parts = Path(row[1]).parts
            if "Rename_Images" not in parts or parts[-2] != row[0]:
                raise DataError(f"frame path {row[1]!r} is not Rename_Images/<action>/{row[0]}/<frame>.png",
                                where=where, hint=METADATA_HINT)
            sampled.setdefault(row[0], set()).add(Path(parts[-1]).stem)
        check_count("sampled frames", len(rows), SAMPLED, str(path))
        return sampled

    def _build_samples(self) -> list[Sample]:
        samples = []
        for _, video, query in sorted(self._rows, key=lambda r: r[1]):
            folder = self._folders[video]
            masks = read_part_mask(self._masks[video])
            paths = sorted(folder.glob("*.png"))[:len(masks)]  # trailing frames without a mask are dropped (MTTR)
            names = [p.stem for p in paths]
            chosen = self._sampled.get(video, set()) if self._sampled is not None else set(names)
            if self._sampled is not None and not chosen <= set(names):
                raise DataError(f"sampled frame(s) {sorted(chosen - set(names))} of '{video}' have no frame or mask",
                                where=str(self.metadata_path), hint=METADATA_HINT)
            frames = ImageFrames(paths, self.options["decoder"])
            height, width = masks.shape[1:]
            samples.append(Sample(
                benchmark=self.name, split=self.split, video_id=video, exp_id="0", text=expression_text(query, f"{self.root / 'jhmdb_annotation.txt'} (video {video})"),
                obj_ids=[1], frame_names=names, annotated=[n in chosen for n in names], orig_size=(height, width),
                meta={"category": folder.parent.name, "tags": []}, load_frames_fn=frames,
                load_masks_fn=PuppetMasks(self._masks[video])))
        return samples

    def annotation_files(self) -> list[Path]:
        files = [self.root / "jhmdb_annotation.txt"]
        if self.options["sampled_frames"] == "metadata":
            files.append(self.metadata_path)
        self.sample_list()
        return files + [self._masks[video] for _, video, _ in self._rows]
