"""rvosbench against the authors' own scorers, run from checkouts named by environment variables.

* ``RVOSBENCH_OFFICIAL_DAVIS``: davisvideochallenge/davis2017-evaluation (needs scikit-image): J and F
  of real DAVIS-17 masks (the checkout's OSVOS and RVOS results) must be identical.
* ``RVOSBENCH_OFFICIAL_VISA``: cilinyan/VISA: ``tools/eval_revos.py`` on the ReVOS fixture.
* ``RVOSBENCH_OFFICIAL_MEVIS``: henghuiding/MeViS: ``tools/eval_mevis.py`` on the MeViS v2 fixture
  (its no-target expressions included).

Each test is skipped, saying which variable to set, when its checkout is not given.
"""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rvosbench.data.fixtures import write_fixture
from rvosbench.engine.offline_eval import run_offline_eval
from rvosbench.metrics.davis import jaccard_and_boundary
from rvosbench.metrics.revos import percent

from test_metrics_new_protocols import write_predictions

pytestmark = pytest.mark.official


def checkout(variable: str, probe: str) -> Path:
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} is not set (point it at a checkout of the official code to run this comparison)")
    if not (Path(path) / probe).is_file():
        pytest.fail(f"{variable}={path} has no {probe}")
    return Path(path)


def test_davis_j_f_identical_on_real_masks():
    from rvosbench.metrics.speed import real_davis_workload

    root = checkout("RVOSBENCH_OFFICIAL_DAVIS", "davis2017/metrics.py")
    pytest.importorskip("skimage", reason="the official toolkit imports scikit-image")
    sys.path.insert(0, str(root))
    try:
        official = importlib.import_module("davis2017.metrics")
    finally:
        sys.path.pop(0)
    pairs = real_davis_workload(root, every=1)
    assert pairs, "the checkout has no results/ folder"
    frames = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for gt, pred in pairs:
            gt, pred = gt[::4], pred[::4]                      # every 4th frame of all 30 sequences: ~1,000
            j, f = jaccard_and_boundary(gt, pred)
            np.testing.assert_array_equal(j, official.db_eval_iou(gt, pred))
            np.testing.assert_array_equal(f, official.db_eval_boundary(gt, pred))
            frames += len(gt)
    print(f"DAVIS: J and F identical (max |diff| 0) on {frames} object-frames of {len(pairs)} objects")
    assert frames > 900


def run_script(script: Path, args: list[str]) -> str:
    result = subprocess.run([sys.executable, script.name, *args], cwd=script.parent, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_revos_equals_visa_eval_revos(tmp_path):
    """Per expression the script's rounded J, F, A, R (its CSV) equal ours exactly; the group means are the
    same numbers averaged in another order (the script collects rows as its 128 processes finish)."""
    visa = checkout("RVOSBENCH_OFFICIAL_VISA", "tools/eval_revos.py")
    fixture = write_fixture("revos", tmp_path / "data")
    values = {"vid_va_0": 255, "vid_va_1": 1}
    predictions = write_predictions(fixture, "valid", tmp_path / "pred" / "Annotations", lambda v, e: values[v])
    run_script(visa / "tools" / "eval_revos.py", [
        str(predictions), "--visa_exp_path", str(fixture.root / "meta_expressions_valid_.json"),
        "--visa_mask_path", str(fixture.root / "mask_dict.json"),
        "--visa_foreground_mask_path", str(fixture.root / "mask_dict_foreground.json")])
    official = json.loads((tmp_path / "pred" / "revos_valid.json").read_text())
    rows = pd.read_csv(tmp_path / "pred" / "revos_valid.csv", dtype={"exp_id": str})
    result = run_offline_eval("benchmarks/revos.yaml", predictions, root=str(fixture.root), out=tmp_path / "scores",
                              workers=1)
    ours = {(r["video_id"], r["exp_id"]): r for r in result.records}
    assert len(rows) == len(ours) == 10
    for row in rows.itertuples():
        record = ours[(row.video_name, row.exp_id)]
        assert [percent(record[m]) for m in "JFAR"] == [row.J, row.F, row.A, row.R], (row.video_name, row.exp_id)
        assert percent((record["J"] + record["F"]) / 2) == row.JF and record["type_id"] == row.type_id
    names = {"referring": "_referring", "reason": "_reasoning", "overall": ""}
    worst = 0.0
    for group, suffix in names.items():
        for measure, key in (("J", "J"), ("F", "F"), ("A", "A"), ("R", "R"), ("JF", "J&F")):
            worst = max(worst, abs(100 * result.metrics[key + suffix] - official[group][measure]))
            assert 100 * result.metrics[key + suffix] == pytest.approx(official[group][measure], abs=1e-9), (group, measure)
    print(f"ReVOS: 10 expressions x J, F, A, R equal to the script's CSV; 15 group numbers within {worst:.1e} "
          f"(overall J&F {official['overall']['JF']:.4f})")


@pytest.mark.parametrize("no_target", ["empty", "false positive"])
def test_mevis_v2_equals_eval_mevis_with_no_target_expressions(tmp_path, no_target):
    """Every expression's J and F equal the script's; J, F, J&F are their means (in the script's process order)."""
    mevis = checkout("RVOSBENCH_OFFICIAL_MEVIS", "tools/eval_mevis.py")
    fixture = write_fixture("mevis_v2", tmp_path / "data")
    value = (lambda v, e: 0 if e == "3" else 255) if no_target == "empty" else (lambda v, e: 255)
    predictions = write_predictions(fixture, "valid_u", tmp_path / "pred", value)
    stdout = run_script(mevis / "tools" / "eval_mevis.py", [
        "--mevis_exp_path", str(fixture.root / "valid_u" / "meta_expressions_v2.json"),
        "--mevis_mask_path", str(fixture.root / "valid_u" / "mask_dict.json"),
        "--mevis_pred_path", str(predictions), "--save_name", str(tmp_path / "mevis.json")])
    official = {line.split(":")[0]: float(line.split(":")[1]) for line in stdout.splitlines()
                if line.startswith(("J:", "F:", "J&F:"))}
    per_expression = json.loads((tmp_path / "mevis.json").read_text())
    ours = run_offline_eval("benchmarks/mevis_v2.yaml", predictions, root=str(fixture.root), out=tmp_path / "s",
                            workers=1)
    assert len(per_expression) == len(ours.records) == 5
    for record in ours.records:
        assert per_expression[f"{record['video_id']}_{record['exp_id']}"] == [record["J"], record["F"]], record["exp_id"]
    for key in ("J", "F", "J&F"):
        assert ours.metrics[key] == pytest.approx(official[key], abs=1e-12), key
    nothing = next(r for r in ours.records if r["targets"] == 0)
    expected = [1.0, 1.0] if no_target == "empty" else [5 / 6, 5 / 6]  # a false positive in 1 of 6 frames
    assert [nothing["J"], nothing["F"]] == pytest.approx(expected)
    print(f"MeViS v2 ({no_target} on the no-target expression): 5 expressions' J, F identical; "
          f"J&F {ours.metrics['J&F']:.12f} vs the script's {official['J&F']:.12f}")
