"""Every real-format loader on its fixture: round trip, quirks, validation errors, count warnings, fingerprints."""
import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from rvosbench.core.config import load_config
from rvosbench.core.errors import ConfigError, DataError
from rvosbench.core.locate import REPO_ROOT
from rvosbench.data import DatasetCountWarning, build_benchmark
from rvosbench.data.fixtures import WRITERS, write_fixture

CASES = [("ref_youtube_vos", "train"), ("ref_youtube_vos", "valid"), ("ref_davis17", "train"),
         ("ref_davis17", "valid"), ("a2d_sentences", "train"), ("a2d_sentences", "test"),
         ("jhmdb_sentences", "test"), ("mevis", "train"), ("mevis", "valid_u"), ("mevis", "valid")]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    written = {}
    for fmt in WRITERS:
        written[fmt] = write_fixture(fmt, tmp_path_factory.mktemp(fmt))
    return written


def load(fmt, root, split, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetCountWarning)
        bench = build_benchmark({"type": fmt, "root": str(root), "split": split, **options})
        samples = bench.sample_list()
    return bench, samples


@pytest.mark.parametrize("fmt, split", CASES)
def test_fixture_round_trips(fixtures, fmt, split):
    fixture = fixtures[fmt]
    bench, samples = load(fmt, fixture.root, split)
    truth = fixture.split_truth(split)
    assert [(s.video_id, s.exp_id) for s in samples] == sorted(truth, key=lambda k: (k[0], int(k[1])))
    for sample in samples:
        expected = truth[(sample.video_id, sample.exp_id)]
        assert sample.text == expected.text and sample.obj_ids == expected.obj_ids
        assert sample.annotated == expected.annotated
        frames = sample.frames()
        assert frames.dtype == np.uint8 and frames.shape == (sample.num_frames, *sample.orig_size, 3)
        masks = sample.masks()
        if expected.masks is None:
            assert masks is None and not bench.ground_truth
            continue
        scored = np.array(sample.annotated)
        assert masks.shape == (sample.num_frames, *sample.orig_size) and masks.dtype == bool
        assert np.array_equal(masks[scored], expected.masks[scored])
        for key, value in expected.meta.items():
            if key == "void":
                assert np.array_equal(sample.meta["load_void_fn"](range(sample.num_frames)), value)
            else:
                assert sample.meta[key] == value, key
    assert bench.fingerprint() == load(fmt, fixture.root, split)[0].fingerprint()


@pytest.mark.parametrize("fmt, split", [c for c in CASES if c[0] != "mevis"] + [("mevis", "valid_u")])
def test_partial_copies_warn_about_counts(fixtures, fmt, split):
    with pytest.warns(DatasetCountWarning, match="released dataset has"):
        build_benchmark({"type": fmt, "root": str(fixtures[fmt].root), "split": split}).sample_list()


def test_quirks(fixtures):
    _, valid = load("ref_youtube_vos", fixtures["ref_youtube_vos"].root, "valid")
    assert {s.video_id for s in valid} == {"0a49f5265b", "9ce299a510"}  # the test-meta video is removed
    _, davis = load("ref_davis17", fixtures["ref_davis17"].root, "train")
    assert {s.video_id for s in davis} == {"classic-car", "motorbike"}  # names fixed from clasic-car / motor-bike
    assert any("café" in s.text for s in davis) and any("naïve" in s.text for s in davis)  # latin-1 annot2
    assert [s.meta["anno_id"] for s in davis[:4]] == [0, 1, 2, 3]
    _, a2d = load("a2d_sentences", fixtures["a2d_sentences"].root, "train")
    assert all("duplicated" not in s.text for s in a2d)  # the '1 (copy)' row is dropped
    _, a2d_test = load("a2d_sentences", fixtures["a2d_sentences"].root, "test")
    assert "missedVideo0" not in {s.video_id for s in a2d_test}
    assert {s.meta["instance_id"] for s in a2d_test} == {1, 3}
    _, jhmdb = load("jhmdb_sentences", fixtures["jhmdb_sentences"].root, "test")
    assert all(s.num_frames == 7 for s in jhmdb)  # 8 images, 7 masks: the trailing frame is dropped
    _, mevis = load("mevis", fixtures["mevis"].root, "train")
    multi = [s for s in mevis if len(s.obj_ids) == 2]
    assert multi and all("multi_object" in s.meta["tags"] for s in multi)
    assert not mevis[1].masks()[-1].any()  # null RLE entries are empty frames


def test_a2d_reads_pre_extracted_frames(fixtures, tmp_path):
    root = tmp_path / "a2d"
    shutil.copytree(fixtures["a2d_sentences"].root, root)
    _, samples = load("a2d_sentences", root, "test")
    for sample in samples:
        folder = root / "Release" / "pngs320H" / sample.video_id
        folder.mkdir(parents=True, exist_ok=True)
        from PIL import Image
        for name, frame in zip(sample.frame_names, sample.frames()):
            Image.fromarray(frame).save(folder / f"{name}.png")
    _, extracted = load("a2d_sentences", root, "test", frames_dir="Release/pngs320H")
    assert [s.frame_names for s in extracted] == [s.frame_names for s in samples]
    assert np.array_equal(extracted[0].frames([0, 3]), samples[0].frames([0, 3]))


def damaged(fixtures, fmt, tmp_path):
    root = tmp_path / fmt
    shutil.copytree(fixtures[fmt].root, root)
    return root


def expect_error(fmt, root, split, match, where):
    with pytest.raises(DataError, match=match) as info:
        load(fmt, root, split)
    assert where in str(info.value), str(info.value)
    return info.value


def test_ytvos_errors(fixtures, tmp_path):
    root = damaged(fixtures, "ref_youtube_vos", tmp_path)
    meta = root / "meta_expressions" / "train" / "meta_expressions.json"
    data = json.loads(meta.read_text())
    del data["videos"]["3e03f623bb"]["expressions"]["1"]["obj_id"]
    meta.write_text(json.dumps(data))
    expect_error("ref_youtube_vos", root, "train", "no 'obj_id'", "videos.3e03f623bb.expressions.1")
    meta.write_text('{"videos": {\n  "a": [1,\n}')
    expect_error("ref_youtube_vos", root, "train", "malformed JSON", "meta_expressions.json:3")
    (root / "meta_expressions" / "test" / "meta_expressions.json").unlink()
    expect_error("ref_youtube_vos", root, "valid", "competition-test", "meta_expressions/test")
    root = damaged(fixtures, "ref_youtube_vos", tmp_path / "again")
    (root / "train" / "JPEGImages" / "d1dd586cfd" / "00010.jpg").unlink()
    expect_error("ref_youtube_vos", root, "train", "missing, first '00010.jpg'", "d1dd586cfd")


def test_davis_errors(fixtures, tmp_path):
    root = damaged(fixtures, "ref_davis17", tmp_path)
    path = root / "davis_text_annotations" / "Davis17_annot1.txt"
    lines = path.read_text().splitlines()
    lines[2] = "classic-car one 'no id'"
    path.write_text("\n".join(lines) + "\n")
    expect_error("ref_davis17", root, "train", "expected '<video> <obj_id>", "Davis17_annot1.txt:3")
    root = damaged(fixtures, "ref_davis17", tmp_path / "again")
    shutil.rmtree(root / "DAVIS" / "Annotations_unsupervised")
    expect_error("ref_davis17", root, "valid", "unsupervised annotations", "Annotations_unsupervised")


def test_a2d_errors(fixtures, tmp_path):
    root = damaged(fixtures, "a2d_sentences", tmp_path)
    csv_path = root / "text_annotations" / "a2d_annotation.txt"
    lines = csv_path.read_text().splitlines()
    lines[2] = lines[2].replace(",3,", ",three,")
    csv_path.write_text("\n".join(lines) + "\n")
    expect_error("a2d_sentences", root, "train", "'three' is not an integer", "a2d_annotation.txt:3")
    root = damaged(fixtures, "a2d_sentences", tmp_path / "b")
    videoset = root / "Release" / "videoset.csv"
    videoset.write_text(videoset.read_text() + "broken,row\n")
    expect_error("a2d_sentences", root, "test", "expected 9 columns", "videoset.csv:6")
    root = damaged(fixtures, "a2d_sentences", tmp_path / "c")
    with h5py.File(root / "text_annotations" / "a2d_annotation_with_instances" / "zzd1pLVtWHU" / "00004.h5", "a") as h:
        del h["reMask"]
    expect_error("a2d_sentences", root, "test", "missing key", "00004.h5")


def test_jhmdb_errors(fixtures, tmp_path):
    root = damaged(fixtures, "jhmdb_sentences", tmp_path)
    metadata = root / "jhmdb_sentences_samples_metadata.json"
    rows = json.loads(metadata.read_text())
    rows[1][1] = "./jhmdb_sentences/elsewhere/00003.png"
    metadata.write_text(json.dumps(rows))
    expect_error("jhmdb_sentences", root, "test", "is not Rename_Images", "(row 1)")
    metadata.unlink()
    error = expect_error("jhmdb_sentences", root, "test", "missing file", "jhmdb_sentences_samples_metadata.json")
    assert "MTTR" in error.hint
    root = damaged(fixtures, "jhmdb_sentences", tmp_path / "again")
    next((root / "puppet_mask").rglob("puppet_mask.mat")).unlink()
    expect_error("jhmdb_sentences", root, "test", "has no puppet_mask", "jhmdb_annotation.txt:")


def test_mevis_errors(fixtures, tmp_path):
    root = damaged(fixtures, "mevis", tmp_path)
    (root / "valid_u" / "mask_dict.json").unlink()
    expect_error("mevis", root, "valid_u", r"missing file \(masks\)", "valid_u/mask_dict.json")
    masks = root / "train" / "mask_dict.json"
    data = json.loads(masks.read_text())
    data["0"][0] = {"size": [30, 40], "counts": 5}
    masks.write_text(json.dumps(data))
    _, samples = load("mevis", root, "train")
    with pytest.raises(DataError, match="malformed RLE") as info:
        samples[0].masks([0])
    assert "key '0', frame 0" in str(info.value)


@pytest.mark.parametrize("fmt, split, edit", [
    ("ref_youtube_vos", "train", "train/Annotations/3e03f623bb/00005.png"),
    ("ref_davis17", "valid", "davis_text_annotations/Davis17_annot2.txt"),
    ("a2d_sentences", "test", "text_annotations/a2d_annotation_with_instances/zzd1pLVtWHU/00008.h5"),
    ("jhmdb_sentences", "test", "jhmdb_annotation.txt"),
    ("mevis", "valid_u", "valid_u/mask_dict.json"),
])
def test_fingerprint_changes_with_any_annotation(fixtures, tmp_path, fmt, split, edit):
    root = damaged(fixtures, fmt, tmp_path)
    before, _ = load(fmt, root, split)
    first = before.fingerprint()
    path = root / edit
    if path.suffix == ".png":
        from PIL import Image
        image = Image.open(path)
        labels = np.asarray(image).copy()
        labels[0, 0] = 2 if labels[0, 0] != 2 else 1
        out = Image.fromarray(labels, mode="L")
        out.putpalette(image.getpalette())
        out.save(path)
    elif path.suffix == ".h5":
        with h5py.File(path, "a") as handle:
            handle["reMask"][..., 0, 0] = 1 - handle["reMask"][..., 0, 0]
    elif path.suffix == ".json":
        data = json.loads(path.read_text())
        data[next(iter(data))][0] = None
        path.write_text(json.dumps(data))
    else:  # an expression's wording
        text = path.read_bytes()
        path.write_bytes(text.replace(b"brushing", b"combing").replace(b"second annotator", b"other annotator"))
    after, _ = load(fmt, root, split)
    assert after.fingerprint() != first
    other_split = next((s for f, s in CASES if f == fmt and s != split), None)
    if other_split:
        assert load(fmt, root, other_split)[0].fingerprint() != first


def test_build_benchmark_config_keys(fixtures):
    root = str(fixtures["ref_davis17"].root)
    bench = build_benchmark({"type": "ref_davis17", "root": root, "split": "valid", "name": "x",
                             "protocol": "per_expression"})
    assert bench.protocol == "per_expression" and type(bench).protocol == "ref_davis_u4"
    with pytest.raises(ConfigError, match="unknown benchmark 'ref_davis'"):
        build_benchmark({"type": "ref_davis", "root": root, "split": "valid"})
    with pytest.raises(ConfigError, match="cannot build"):
        build_benchmark({"type": "ref_davis17", "root": root, "split": "valid", "framez": 1})
    with pytest.raises(ConfigError, match="unknown decoder"):
        build_benchmark({"type": "ref_davis17", "root": root, "split": "valid", "decoder": "av"})
    with pytest.raises(DataError, match="missing folder"):
        build_benchmark({"type": "ref_davis17", "root": "/nonexistent", "split": "valid"}).sample_list()


@pytest.mark.parametrize("name", ["ref_youtube_vos", "ref_davis17", "a2d_sentences", "jhmdb_sentences", "mevis"])
def test_benchmark_configs_build(fixtures, name):
    config = load_config(REPO_ROOT / "benchmarks" / f"{name}.yaml").data
    assert config["type"] == name and config["protocol"]
    bench, samples = load(name, fixtures[name].root, config["split"],
                          **{k: v for k, v in config.items() if k not in ("type", "root", "split")})
    assert samples and bench.protocol == config["protocol"] and bench.metrics


def test_decoders_agree(fixtures):
    _, samples = load("ref_youtube_vos", fixtures["ref_youtube_vos"].root, "train")
    _, pil = load("ref_youtube_vos", fixtures["ref_youtube_vos"].root, "train", decoder="pil")
    assert np.abs(samples[0].frames().astype(int) - pil[0].frames().astype(int)).max() <= 2
