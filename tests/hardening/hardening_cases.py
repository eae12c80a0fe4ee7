"""User-caused failures, each set up in a fresh folder and run through the CLI as a user would.

Each case is a :class:`Case`: ``setup(tmp) -> (argv, expected)``; running ``argv`` must exit with status
2, print exactly one line ``rvosbench: error: ...`` containing ``expected``, no traceback, no Python
object repr and no library warning; a ``run`` must stop before any work (its store folder is never
created). ``docs/reliability.md`` lists every case with the message a user sees
(``render_reliability.py`` prints the rows); a test keeps the two in step. ``issue`` names the issue-18
list a case answers. The engine cases (checkpoints, NaN loss, full disk, kills) are in
test_engine_faults.py. To add a case: write its setup below and append it to ``CASES``.
"""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
Setup = Callable[[Path], tuple[list[str], str]]


class Case(NamedTuple):
    id: str
    title: str
    setup: Setup
    issue: str = ""  # the issue-18 list it answers: "silently wrong", "traceback", "late or unclear", "inputs"


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


# -- values checked before any work (issue 18) ---------------------------------------------------
SYNTH_STUDY = ("name: s\nmodel: {card: proxyformer_tiny}\n"
               "train: {benchmark: synth/train, steps: 20, checkpoint_every: 10}\n"
               "benchmarks: [synth/test]\nvariants:\n  a: {}\n")


def run_study(tmp: Path, *overrides: str, text: str = SYNTH_STUDY) -> list[str]:
    """``rvosbench run`` of a small study; ``runs/`` must not exist afterwards (refused before work)."""
    study = write(tmp / "study.yaml", text)
    return ["run", str(study), "--out", str(tmp / "runs"), *(["--set", *overrides] if overrides else [])]


def with_set(*overrides: str, expected: str) -> Setup:
    """A case: the small study run with these ``--set`` overrides."""
    return lambda tmp: (run_study(tmp, *overrides), expected)


def with_edit(old: str, new: str, expected: str) -> Setup:
    """A case: the small study with ``old`` replaced by ``new`` in its file."""
    return lambda tmp: (run_study(tmp, text=SYNTH_STUDY.replace(old, new)), expected)


def empty_study(tmp: Path):
    return ["run", str(write(tmp / "study.yaml", "# nothing yet\n")), "--out", str(tmp / "runs")], \
        "study.yaml: the file is empty"


def card_section_typo(tmp: Path):
    write(tmp / "models/mine.yaml", (REPO / "models/proxyformer_tiny.yaml").read_text().replace(
        "  description:", "  descripton:"))
    return run_study(tmp, text=SYNTH_STUDY.replace("proxyformer_tiny", "mine")), \
        "mine.yaml:7 (key 'card.descripton'): unknown key 'card.descripton' (did you mean 'description'?"


TOY_PLUGIN = REPO / "tests/engine/toy_plugin.py"


def plugin_model_key(tmp: Path):
    text = (f"name: s\nplugins: [{TOY_PLUGIN}]\nmodel: {{type: engine_toy, hiden: 8}}\n"
            "train: {benchmark: synth/train, steps: 2}\nbenchmarks: [synth/test]\nvariants: {a: {}}\n")
    return run_study(tmp, text=text), "unknown key 'model.hiden' (did you mean 'hidden'?"


def toy_predict(tmp: Path, checkpoint: Path) -> list[str]:
    write(tmp / "models/toy.yaml", "card: {name: toy, input: {num_frames: 2, short_side: 24, max_size: 32}}\n"
          "model: {type: engine_toy}\n")
    frames = tmp / "frames"
    frames.mkdir()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(frames / "00000.jpg")
    return ["predict", str(tmp / "models/toy.yaml"), "--checkpoint", str(checkpoint), "--video", str(frames),
            "--text", "the red square", "--out", str(tmp / "pred"), "--plugin", str(TOY_PLUGIN)]


def empty_checkpoint(tmp: Path):
    return toy_predict(tmp, write(tmp / "last.pt", b"")), "last.pt: the file is empty (0 bytes)"


def text_checkpoint(tmp: Path):
    return toy_predict(tmp, write(tmp / "last.pt", "this is not a checkpoint\n")), \
        "last.pt: not a PyTorch checkpoint: it is text (starting 'this is not '"


def video_not_a_video(tmp: Path):
    from rvosbench.core.plugins import load_plugin_file
    from rvosbench.models import save_checkpoint

    argv = toy_predict(tmp, save_checkpoint(load_plugin_file(TOY_PLUGIN).ToyModel(), tmp / "toy.pt"))
    argv[argv.index("--video") + 1] = str(write(tmp / "clip.mp4", "not a video\n"))
    return argv, "clip.mp4: cannot decode any frame"


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


def mask_greyscale(tmp: Path):
    root = ytvos_fixture(tmp)
    png = first_file(root, "train/Annotations/*/*.png")
    with Image.open(png) as image:
        Image.fromarray((np.asarray(image) > 0).astype(np.uint8) * 255, mode="L").save(png)
    return check(root), "expected an indexed (palette) PNG whose pixel values are object ids"


def jpeg_cut_mid_scan(tmp: Path):
    root = ytvos_fixture(tmp)
    jpeg = first_file(root, "train/JPEGImages/*/*.jpg")
    jpeg.write_bytes(jpeg.read_bytes()[:-200])  # the header is intact: only the pixels are cut short
    return check(root, "--decode", "all"), "truncated JPEG (no end-of-image marker)"


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


def prediction_not_an_image(tmp: Path):
    root, preds = oracle_predictions(tmp)
    first_file(preds, "Annotations/*/*/*.png").write_text("not an image\n")
    return score(root, preds), "cannot decode PNG: not an image in a format PIL can read"


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


CASES: list[Case] = [
    Case("malformed-yaml", "Malformed YAML in a study", malformed_yaml),
    Case("non-utf8-yaml", "A config file that is not UTF-8", non_utf8_yaml),
    Case("unknown-key", "Unknown key in a study", unknown_study_key),
    Case("unknown-override", "Unknown key in --set", unknown_override_key),
    Case("bad-override", "--set without a value", bad_override_syntax),
    Case("unknown-model", "Unknown model name", unknown_model),
    Case("unknown-benchmark", "Unknown benchmark name", unknown_benchmark),
    Case("missing-base", "A _base_ file that does not exist", missing_base),
    Case("plugin-raises", "A plug-in that raises at import", plugin_raises),
    Case("plugin-duplicate", "A plug-in registering an existing name", plugin_duplicate),
    Case("missing-root", "Dataset folder missing", missing_dataset_root),
    Case("missing-annotation", "Dataset annotation file missing", missing_annotation_file),
    Case("truncated-jpeg", "Corrupt or truncated JPEG frame", truncated_jpeg),
    Case("truncated-png", "Corrupt or truncated PNG mask", truncated_png),
    Case("mask-size", "Ground-truth mask of the wrong size", mask_wrong_size),
    Case("mask-palette", "Ground-truth mask that is not a palette PNG", mask_wrong_palette),
    Case("empty-expression", "Empty expression", empty_expression),
    Case("non-utf8-expression", "Expression file that is not UTF-8", non_utf8_expressions),
    Case("duplicate-ids", "Duplicate video ids in an annotation file", duplicate_ids),
    Case("pred-missing", "Predictions missing frames", predictions_missing_frames),
    Case("pred-extra", "Predictions with extra files", predictions_extra_files),
    Case("pred-size", "Prediction mask of the wrong size", predictions_wrong_size),
    Case("zip-absolute", "Prediction zip with an absolute member path", zip_absolute_path),
    Case("zip-parent", "Prediction zip with a '../' member path", zip_parent_path),
    # issue 18: silently wrong numbers
    Case("plus-typo", "`--set +train.stpes=300`: a typo added with `+` (the default 5000 steps would train)",
         with_set("+train.stpes=300",
                  expected="--set +train.stpes=300: unknown key 'train.stpes' (did you mean 'steps'?"),
         "silently wrong"),
    Case("steps-zero", "`train.steps=0` on a card without a checkpoint (a random model would be scored)",
         with_set("train.steps=0", expected="would evaluate a randomly initialised model"), "silently wrong"),
    Case("duplicate-seeds", "`seeds=[0,0]` (one cell counted twice: 2.8±0.0, seeds 2)",
         with_set("seeds=[0,0]", expected="--set seeds=[0,0]: seeds: 0 is listed more than once"), "silently wrong"),
    Case("mask-greyscale", "Ground-truth masks saved as L-mode 0/255 PNGs (scored against an empty truth)",
         mask_greyscale, "silently wrong"),
    Case("duplicate-benchmark", "A benchmark listed twice in a study",
         with_set("benchmarks=[synth/test,synth/test]", expected="benchmark synth/test is listed twice"),
         "silently wrong"),
    Case("duplicate-yaml-key", "A key written twice in one YAML mapping (YAML keeps the last silently)",
         with_edit("  a: {}\n", "  a: {}\n  a: {model: {hidden_dim: 32}}\n",
                   "study.yaml:7: duplicate key 'variants.a' (also on line 6)"), "silently wrong"),
    Case("val-without-split", "`train.val_every` without `train.val_benchmark` (no validation would run)",
         with_set("train.val_every=5", expected="val_every is set but val_benchmark is not"), "silently wrong"),
    Case("jpeg-cut", "A JPEG frame cut short after its header (decoded grey below the cut)", jpeg_cut_mid_scan,
         "silently wrong"),
    # issue 18: tracebacks
    Case("hidden-dim-text", "A variant with `model.hidden_dim: sixty-four`",
         with_edit("  a: {}\n", "  a: {}\n  b:\n    model:\n      hidden_dim: sixty-four\n",
                   "study.yaml:9 (key 'variants.b.model.hidden_dim'): model.hidden_dim must be a whole number"),
         "traceback"),
    Case("lr-text", "`--set train.lr=fast`",
         with_set("train.lr=fast", expected="--set train.lr=fast: train.lr must be a number, got 'fast'"), "traceback"),
    Case("heads-divide", "`--set model.num_heads=3` (AssertionError after training had started)",
         with_set("model.num_heads=3",
                  expected="--set model.num_heads=3: hidden_dim 64 is not divisible by num_heads 3"), "traceback"),
    Case("checkpoint-every-zero", "`--set train.checkpoint_every=0` (ZeroDivisionError)",
         with_set("train.checkpoint_every=0", expected="train.checkpoint_every must be >= 1, got 0"), "traceback"),
    Case("checkpoint-empty", "A zero-byte checkpoint (IndexError in the error formatter)", empty_checkpoint,
         "traceback"),
    # issue 18: checked late or explained badly
    Case("eval-window-zero", "`eval.window=0` (refused only after training)",
         with_set("eval.window=0", expected="--set eval.window=0: eval.window must be >= 1, got 0"),
         "late or unclear"),
    Case("steps-text", "`train.steps=ten` (\"'<' not supported between 'str' and 'int'\")",
         with_set("train.steps=ten", expected="train.steps must be a whole number, got 'ten'"), "late or unclear"),
    Case("empty-study", "An empty study file (\"'NoneType' object has no attribute 'get'\")", empty_study,
         "late or unclear"),
    Case("card-typo-set", "`--set model.card=proxyformer_tyni` (blamed jsc.yaml)",
         with_set("model.card=proxyformer_tyni", expected="--set model.card=proxyformer_tyni: no model named "
                                                          "'proxyformer_tyni' (did you mean 'proxyformer_tiny'"),
         "late or unclear"),
    Case("checkpoint-text", "A text file given as a `.pt` (said to hold pickled objects)", text_checkpoint,
         "late or unclear"),
    Case("pred-not-image", "A text file given as a PNG prediction (printed `<_io.BytesIO object at 0x…>`)",
         prediction_not_an_image, "late or unclear"),
    Case("video-not-video", "A text file given as a video (OpenCV/FFmpeg printed `[ WARN ]` lines)",
         video_not_a_video, "late or unclear"),
    Case("model-key-typo", "A model key misspelt in a variant",
         with_edit("  a: {}\n", "  a: {}\n  b: {model: {num_head: 2}}\n", "study.yaml:7 (key "
                   "'variants.b.model.num_head'): unknown key 'model.num_head' (did you mean 'num_heads'"),
         "late or unclear"),
    Case("loss-key-typo", "`--set +model.loss.jsc_wieght=0`",
         with_set("+model.loss.jsc_wieght=0",
                  expected="unknown key 'model.loss.jsc_wieght' (did you mean 'jsc_weight'?"), "late or unclear"),
    Case("choice-typo", "`--set train.schedule=cosin`",
         with_set("train.schedule=cosin", expected="train.schedule must be one of: cosine, step, constant; got "
                                                   "'cosin' (did you mean 'cosine'?)"), "late or unclear"),
    Case("yaml-exponent", "`lr: 1e-4` in a YAML file (YAML 1.1 reads it as text)",
         with_edit("steps: 20,", "steps: 20, lr: 1e-4,", "YAML reads 1e-4 as text: write 0.0001 or 1.0e-4"),
         "late or unclear"),
    Case("input-sizes", "`eval.input` with `short_side` > `max_size`",
         with_set("eval.input={short_side: 128, max_size: 96}", expected="max_size 96 is smaller than short_side 128"),
         "late or unclear"),
    Case("split-typo", "`benchmarks=[synth/tset]` (found after training)",
         with_set("benchmarks=[synth/tset]",
                  expected="synth has no split 'tset' (choose one of: train, val, test, compositional)"),
         "late or unclear"),
    Case("variant-slash", "A variant name with '/' (it names a folder)",
         with_edit("  a: {}\n", "  a/b: {}\n", "must be a name without '/'"), "late or unclear"),
    Case("seed-negative", "`seeds=[-1]`", with_set("seeds=[-1]", expected="seeds.0 must be >= 0, got -1"),
         "late or unclear"),
    Case("no-train-data", "Training steps without `train.benchmark` (found after other cells trained)",
         with_edit("benchmark: synth/train, ", "", "train.steps is 20 but there is no training data"),
         "late or unclear"),
    Case("card-key-typo", "A misspelt key in a model card's `card:` section", card_section_typo, "late or unclear"),
    Case("plugin-model-key", "A misspelt key of a plug-in model (its constructor is its schema)", plugin_model_key,
         "late or unclear"),
    # keys added since: ProxyFormer's switches, synth's generator options, validation data, rival inputs
    Case("attention-typo", "`--set model.attention=cupled`",
         with_set("model.attention=cupled", expected="model.attention must be one of: decoupled, coupled, "
                                                     "coupled_pair; got 'cupled' (did you mean 'coupled'"),
         "late or unclear"),
    Case("synth-family-typo", "A synth `families` entry misspelt (found only when the benchmark was built)",
         with_edit("benchmark: synth/train", "benchmark: {name: synth, split: train, families: [motion, moton]}",
                   "train.benchmark.families.1 must be one of: appearance, motion, relation, temporal_change, "
                   "distractor; got 'moton'"), "late or unclear"),
    Case("synth-option-typo", "A misspelt synth generator option (the plan did not check synth's options)",
         with_edit("benchmark: synth/train", "benchmark: {name: synth, split: train, famlies: [motion]}",
                   "unknown key 'train.benchmark.famlies' (did you mean 'families'"), "late or unclear"),
    Case("val-split-typo", "`train.val_benchmark: synth/vall` (the plan did not check its split)",
         with_edit("steps: 20,", "steps: 20, val_every: 10, val_benchmark: synth/vall,",
                   "synth has no split 'vall'"), "late or unclear"),
    Case("centred-no-window", "`eval.clips: centred` with `eval.window: null`",
         with_set("eval.clips=centred", "eval.window=null", expected="clips: centred needs a window"),
         "late or unclear"),
    Case("resample-typo", "`--set eval.input={resample: pil}`",
         with_set("eval.input={resample: pil}", expected="eval.input.resample must be one of: torch_antialias, "
                                                         "pil_bilinear; got 'pil'"), "late or unclear"),
    Case("data-check-split", "`rvosbench data check ref_davis17 --split vaild`",
         lambda tmp: (["data", "check", "ref_davis17", "--split", "vaild"],
                      "ref_davis17 has no split 'vaild' (choose one of: train, valid)"), "late or unclear"),
]
