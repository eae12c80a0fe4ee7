"""User-caused failures, each set up in a fresh folder and run through the CLI as a user would.

Each case is ``(case_id, title, setup)``: ``setup(tmp) -> (argv, expected)``; running ``argv`` must exit
with status 2, print exactly one line ``rvosbench: error: ...`` containing ``expected``, and no
traceback. ``docs/reliability.md`` lists every case with the message a user sees; a test keeps the two
in step. The engine cases (checkpoints, NaN loss, full disk, kills) live in test_engine_faults.py.
"""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
Setup = Callable[[Path], tuple[list[str], str]]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# -- configs -----------------------------------------------------------------------------------
STUDY = "name: s\nmodel: {card: proxyformer_tiny}\nbenchmarks: [synth/test]\nvariants: {a: {}}\n"


def malformed_yaml(tmp: Path):
    return ["show", str(write(tmp / "study.yaml", "name: s\nvariants: {a: {}\nseeds: [0]\n"))], "YAML syntax error"


def non_utf8_yaml(tmp: Path):
    return ["show", str(write(tmp / "study.yaml", b"name: \xff\xfe\n"))], "not UTF-8"


def unknown_study_key(tmp: Path):
    return ["show", str(write(tmp / "study.yaml", STUDY + "seed: [1]\n"))], "unknown key 'seed'"


def unknown_override_key(tmp: Path):
    return ["show", str(write(tmp / "study.yaml", STUDY)), "--set", "train.stpes=3"], "unknown key 'train.stpes'"


def bad_override_syntax(tmp: Path):
    return ["show", str(write(tmp / "study.yaml", STUDY)), "--set", "model.hidden_dim"], "is not KEY=VALUE"


def unknown_model(tmp: Path):
    study = STUDY.replace("variants: {a: {}}", "variants: {a: {model: {type: proxyformer.no_jcs}}}")
    return ["show", str(write(tmp / "study.yaml", study))], "unknown model 'proxyformer.no_jcs'"


def unknown_benchmark(tmp: Path):
    return ["show", str(write(tmp / "study.yaml", STUDY.replace("synth/test", "snyth/test")))], "no benchmark named 'snyth'"


def missing_base(tmp: Path):
    return ["show", str(write(tmp / "study.yaml", "_base_: common.yaml\n" + STUDY))], "_base_ file not found"


def plugin_raises(tmp: Path):
    plugin = write(tmp / "my_rival.py", "import torch\n\nraise RuntimeError('weights folder not set')\n")
    return ["list", "models", "--plugin", str(plugin)], "my_rival.py:3: plug-in raised RuntimeError"


def plugin_duplicate(tmp: Path):
    plugin = write(tmp / "dup.py", "from rvosbench.core.registry import MODELS\n"
                   "MODELS.register_module(name='proxyformer', module=type('X', (), {}))\n")
    return ["list", "models", "--plugin", str(plugin)], "model 'proxyformer' is already registered"


# -- datasets ----------------------------------------------------------------------------------
def ytvos_fixture(tmp: Path) -> Path:
    from rvosbench.cli.main import main

    root = tmp / "ytvos"
    assert main(["data", "fixture", "ref_youtube_vos", str(root)]) == 0
    return root


def first_file(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[0]


def check(root: Path, *extra: str) -> list[str]:
    return ["data", "check", str(BENCH / "ref_youtube_vos.yaml"), "--root", str(root), "--split", "train", *extra]


def missing_dataset_root(tmp: Path):
    return check(tmp / "nowhere"), "missing folder"


def missing_annotation_file(tmp: Path):
    root = ytvos_fixture(tmp)
    (root / "meta_expressions/train/meta_expressions.json").unlink()
    return check(root), "meta_expressions.json"


def truncated_jpeg(tmp: Path):
    root = ytvos_fixture(tmp)
    jpeg = first_file(root, "train/JPEGImages/*/*.jpg")
    jpeg.write_bytes(jpeg.read_bytes()[:200])
    return check(root, "--decode", "all"), "the file is missing or corrupt"


def truncated_png(tmp: Path):
    root = ytvos_fixture(tmp)
    png = first_file(root, "train/Annotations/*/*.png")
    png.write_bytes(png.read_bytes()[:60])
    return check(root, "--decode", "all"), "cannot decode annotation"


def mask_wrong_size(tmp: Path):
    root = ytvos_fixture(tmp)
    png = first_file(root, "train/Annotations/*/*.png")
    with Image.open(png) as image:
        image.resize((7, 5)).save(png)
    return check(root, "--decode", "all"), "annotation is 7x5, frames are"


def mask_wrong_palette(tmp: Path):
    root = ytvos_fixture(tmp)
    png = first_file(root, "train/Annotations/*/*.png")
    with Image.open(png) as image:
        image.convert("RGB").save(png)
    return check(root, "--decode", "all"), "expected an indexed (palette) PNG"


def edit_meta(root: Path, change: Callable[[dict], None]) -> None:
    path = root / "meta_expressions/train/meta_expressions.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def empty_expression(tmp: Path):
    root = ytvos_fixture(tmp)

    def blank(meta: dict) -> None:
        video = next(iter(meta["videos"].values()))
        next(iter(video["expressions"].values()))["exp"] = "   "

    edit_meta(root, blank)
    return check(root), "empty expression"


def non_utf8_expressions(tmp: Path):
    root = ytvos_fixture(tmp)
    path = root / "meta_expressions/train/meta_expressions.json"
    path.write_bytes(path.read_bytes().replace(b'"exp": "', b'"exp": "\xe9', 1))
    return check(root), "not UTF-8"


def duplicate_ids(tmp: Path):
    root = ytvos_fixture(tmp)
    path = root / "meta_expressions/train/meta_expressions.json"
    text = path.read_text()
    video = next(iter(json.loads(text)["videos"]))
    # JSON objects with a repeated key: the second silently wins in most readers.
    body = json.dumps(json.loads(text)["videos"][video])
    path.write_text(text.replace('"videos": {', f'"videos": {{"{video}": {body}, ', 1))
    return check(root), "duplicate"


# -- predictions -------------------------------------------------------------------------------
def oracle_predictions(tmp: Path) -> tuple[Path, Path]:
    """A ytvos fixture and a folder holding its ground truth as predictions."""
    from rvosbench.data import build_benchmark

    root = ytvos_fixture(tmp)
    bench = build_benchmark({"type": "ref_youtube_vos", "root": str(root), "split": "train"})
    folder = tmp / "preds"
    for sample in bench.samples():
        for name, mask in zip(sample.frame_names, sample.masks()):
            out = folder / "Annotations" / sample.video_id / sample.exp_id / f"{name}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8) * 255).save(out)
    return root, folder


def score(root: Path, predictions: Path) -> list[str]:
    return ["eval", "--benchmark", str(BENCH / "ref_youtube_vos.yaml"), "--root", str(root), "--split", "train",
            "--predictions", str(predictions), "--out", str(predictions.parent / "scores"), "--workers", "1"]


def predictions_missing_frames(tmp: Path):
    root, preds = oracle_predictions(tmp)
    first_file(preds, "Annotations/*/*/*.png").unlink()
    return score(root, preds), "missing"


def predictions_extra_files(tmp: Path):
    root, preds = oracle_predictions(tmp)
    write(preds / "Annotations/not_a_video/0/00000.png", first_file(preds, "Annotations/*/*/*.png").read_bytes())
    return score(root, preds), "extra"


def predictions_wrong_size(tmp: Path):
    root, preds = oracle_predictions(tmp)
    png = first_file(preds, "Annotations/*/*/*.png")
    Image.fromarray(np.zeros((3, 4), np.uint8)).save(png)
    return score(root, preds), "size"


def zip_with(members: dict[str, bytes], path: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    path.write_bytes(buffer.getvalue())
    return path


def zip_members(preds: Path) -> dict[str, bytes]:
    return {p.relative_to(preds).as_posix(): p.read_bytes() for p in sorted(preds.rglob("*.png"))}


def zip_absolute_path(tmp: Path):
    root, preds = oracle_predictions(tmp)
    members = {**zip_members(preds), "/tmp/rvosbench_escape.png": b"x"}
    return score(root, zip_with(members, tmp / "preds.zip")), "is an absolute path"


def zip_parent_path(tmp: Path):
    root, preds = oracle_predictions(tmp)
    members = {**zip_members(preds), "../../escape.png": b"x"}
    return score(root, zip_with(members, tmp / "preds.zip")), "is a '..' path"


CASES: list[tuple[str, str, Setup]] = [
    ("malformed-yaml", "Malformed YAML in a study", malformed_yaml),
    ("non-utf8-yaml", "A config file that is not UTF-8", non_utf8_yaml),
    ("unknown-key", "Unknown key in a study", unknown_study_key),
    ("unknown-override", "Unknown key in --set", unknown_override_key),
    ("bad-override", "--set without a value", bad_override_syntax),
    ("unknown-model", "Unknown model name", unknown_model),
    ("unknown-benchmark", "Unknown benchmark name", unknown_benchmark),
    ("missing-base", "A _base_ file that does not exist", missing_base),
    ("plugin-raises", "A plug-in that raises at import", plugin_raises),
    ("plugin-duplicate", "A plug-in registering an existing name", plugin_duplicate),
    ("missing-root", "Dataset folder missing", missing_dataset_root),
    ("missing-annotation", "Dataset annotation file missing", missing_annotation_file),
    ("truncated-jpeg", "Corrupt or truncated JPEG frame", truncated_jpeg),
    ("truncated-png", "Corrupt or truncated PNG mask", truncated_png),
    ("mask-size", "Ground-truth mask of the wrong size", mask_wrong_size),
    ("mask-palette", "Ground-truth mask that is not a palette PNG", mask_wrong_palette),
    ("empty-expression", "Empty expression", empty_expression),
    ("non-utf8-expression", "Expression file that is not UTF-8", non_utf8_expressions),
    ("duplicate-ids", "Duplicate video ids in an annotation file", duplicate_ids),
    ("pred-missing", "Predictions missing frames", predictions_missing_frames),
    ("pred-extra", "Predictions with extra files", predictions_extra_files),
    ("pred-size", "Prediction mask of the wrong size", predictions_wrong_size),
    ("zip-absolute", "Prediction zip with an absolute member path", zip_absolute_path),
    ("zip-parent", "Prediction zip with a '../' member path", zip_parent_path),
]
