"""MeViS v2 and ReVOS scored end to end on their fixtures, against literal computations of the official rules."""
import json

import cv2
import numpy as np
import pytest

from rvosbench.data.fixtures import write_fixture
from rvosbench.engine.offline_eval import run_offline_eval


def write_predictions(fixture, split, folder, value_of):
    """One PNG per frame: the GT shifted by one pixel, foreground written as ``value_of(video, exp)``
    (0 for an empty prediction)."""
    for (s, video, exp), truth in fixture.truth.items():
        if s != split:
            continue
        value = value_of(video, exp)
        for t, mask in enumerate(truth.masks):
            target = folder / video / exp / f"{t:05d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shifted = np.roll(mask, 1, axis=1) if value else np.zeros_like(mask)
            if exp == "3" and t == 0 and value:
                shifted = np.zeros_like(mask)                  # a false positive (not the whole frame: a
                shifted[: len(mask) // 2] = 1                  # full mask has no seg2bmap boundary, F = 1)
            cv2.imwrite(str(target), shifted.astype(np.uint8) * value)
    return folder


@pytest.fixture(scope="module")
def revos_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("revos")
    fixture = write_fixture("revos", root / "data")
    values = {"vid_va_0": 255, "vid_va_1": 1}                   # VISA writes 0/255; an index mask holds 1
    predictions = write_predictions(fixture, "valid", root / "pred" / "Annotations", lambda v, e: values[v])
    return fixture, predictions


def literal_revos(fixture, predictions):
    """The rules of VISA tools/eval_revos.py, written out loop by loop on the fixture's files."""
    from rvosbench.core.rle import decode_rle

    root = fixture.root
    meta = json.loads((root / "meta_expressions_valid_.json").read_text())["videos"]
    masks = json.loads((root / "mask_dict.json").read_text())
    foreground = json.loads((root / "mask_dict_foreground.json").read_text())
    rows = []
    for video, info in meta.items():
        for exp, e in info["expressions"].items():
            j, f, a, r = [], [], [], []
            for t, frame in enumerate(info["frames"]):
                gt = np.zeros((info["height"], info["width"]), np.uint8)
                for anno in e["anno_id"]:
                    if masks[str(anno)][t]:
                        gt += decode_rle(masks[str(anno)][t]).astype(np.uint8)
                pred = cv2.imread(str(predictions / video / exp / f"{frame}.png"), cv2.IMREAD_GRAYSCALE)
                fg = decode_rle(foreground[video]["masks_rle"][t]).astype(np.uint8)
                import davis_reference as ref
                j.append(ref.db_eval_iou(gt, pred))
                f.append(ref.f_measure(pred, gt))
                a.append(np.mean(gt == pred))
                r.append(max(1 - ((1 - gt) * pred).sum() / (fg.sum() + 1e-6), 0.0))
            rows.append((e["type_id"], *(round(100 * np.float64(np.mean(x)), 2) for x in (j, f, a, r))))
    out = {}
    for name, type_id in (("referring", 0), ("reasoning", 1)):
        for k, measure in enumerate("JFAR"):
            out[f"{measure}_{name}"] = np.mean([row[1 + k] for row in rows if row[0] == type_id])
        out[f"J&F_{name}"] = (out[f"J_{name}"] + out[f"F_{name}"]) / 2
    for measure in ("J&F", "J", "F", "A", "R"):
        out[measure] = (out[f"{measure}_referring"] + out[f"{measure}_reasoning"]) / 2
    return out


def test_revos_equals_the_literal_rules(revos_case, tmp_path):
    fixture, predictions = revos_case
    result = run_offline_eval("benchmarks/revos.yaml", predictions, root=str(fixture.root), out=tmp_path / "scores",
                              workers=1)
    expected = literal_revos(fixture, predictions)
    for key, value in expected.items():
        assert result.metrics[key] * 100 == pytest.approx(value, abs=1e-9), key
    assert len(result.records) == 10 and {r["type_id"] for r in result.records} == {0, 1, 2}
    # the 0/255 video only ever agrees on background, the 0/1 video also on the object: A differs
    by_video = {v: np.mean([r["A"] for r in result.records if r["video_id"] == v]) for v in ("vid_va_0", "vid_va_1")}
    assert by_video["vid_va_1"] > by_video["vid_va_0"]
    again = run_offline_eval("benchmarks/revos.yaml", predictions, root=str(fixture.root), out=tmp_path / "s2",
                             workers=2)
    assert again.metrics == result.metrics


def test_mevis_v2_no_target_rule_existence_and_breakdown(tmp_path):
    fixture = write_fixture("mevis_v2", tmp_path / "data")
    # expression 3 has no target: predicted empty (correct) in the only valid_u video; expression 4
    # (two targets) predicted empty (a miss)
    predictions = write_predictions(fixture, "valid_u", tmp_path / "pred", lambda v, e: 0 if e in ("3", "4") else 255)
    result = run_offline_eval("benchmarks/mevis_v2.yaml", predictions, root=str(fixture.root), out=tmp_path / "out",
                              workers=1)
    records = {r["exp_id"]: r for r in result.records}
    assert records["3"]["J"] == 1.0 and records["3"]["F"] == 1.0       # empty GT, empty prediction: 1 and 1
    assert records["4"]["J"] == 0.0 and records["4"]["targets"] == 2
    assert result.metrics["N-acc"] == 1.0 and result.metrics["T-acc"] == pytest.approx(3 / 4)
    assert result.metrics["J&F_0"] == 1.0
    groups = {row["target_group"]: row for row in result.tables["by_targets"]}
    assert groups["0"]["count"] == 1 and groups["1"]["count"] == 2 and groups["many"]["count"] == 2
    assert result.metrics["J&F"] == pytest.approx(np.mean([r["J&F"] for r in result.records]))
    # a false positive on a no-target expression scores 0 in the frame that has it (frame 0 here), 1 elsewhere
    write_predictions(fixture, "valid_u", tmp_path / "pred2", lambda v, e: 255)
    wrong = run_offline_eval("benchmarks/mevis_v2.yaml", tmp_path / "pred2", root=str(fixture.root),
                             out=tmp_path / "out2", workers=1)
    no_target = next(r for r in wrong.records if r["exp_id"] == "3")
    assert no_target["J"] == no_target["F"] == pytest.approx(5 / 6) and wrong.metrics["N-acc"] == 0.0
