"""MeViS v2 (TPAMI 2025, arXiv 2512.10945): the MeViS release plus ``meta_expressions_v2.json``.

Layout (landscape-2026.md; HF dataset FudanCVL/MeViSv2): as MeViS v1 (``<split>/JPEGImages``,
``<split>/mask_dict.json`` for train and valid_u), with the expressions read from
``<split>/meta_expressions_v2.json`` instead of ``meta_expressions.json``. v2 adds no-target
expressions (``obj_id`` and ``anno_id`` are empty lists: nothing in the video matches; the ground truth
is empty in every frame) and more multi-target ones. Counts (rivals.md §1.5): 27,502 / 907 / 2,523
expressions in train / valid_u / valid (valid is scored on the Codabench server).

Each sample's ``meta['targets']`` is the number of referred objects (0, 1, 2, …) and its tags are
``no_target`` or ``multi_object`` where they apply; the ``mevis_v2`` protocol breaks its numbers down
by them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rvosbench.core.registry import BENCHMARKS
from rvosbench.data.base import check_count
from rvosbench.data.mevis import V2_EXPRESSIONS, MeViS
from rvosbench.data.ytvos import parse_obj_ids


@BENCHMARKS.register_module("mevis_v2")
class MeViSv2(MeViS):
    """MeViS v2: no-target and multi-target expressions; valid_u scored locally, valid on the server."""

    name = "mevis_v2"
    protocol = "mevis_v2"
    metrics = ("J&F", "J", "F", "N-acc", "T-acc")

    @property
    def meta_path(self) -> Path:
        return self.split_dir / "meta_expressions_v2.json"

    def _select_videos(self, videos: dict[str, Any]) -> dict[str, Any]:
        expressions = sum(len(v.get("expressions", {})) for v in videos.values() if isinstance(v, dict))
        check_count("expressions", expressions, V2_EXPRESSIONS[self.split], str(self.meta_path))
        return videos

    def _expression_meta(self, exp: dict[str, Any]) -> dict[str, Any]:
        meta = super()._expression_meta(exp)
        if "obj_id" in exp:
            targets = len(parse_obj_ids(exp["obj_id"], f"{self.meta_path} (key obj_id)"))
            meta["targets"] = targets
            if targets == 0:
                meta["tags"] = [*meta["tags"], "no_target"]
        else:
            meta["targets"] = None  # a server split: the count is not released
        return meta
