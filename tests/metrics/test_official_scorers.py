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
import pytest

from rvosbench.data.fixtures import write_fixture
from rvosbench.engine.offline_eval import run_offline_eval
from rvosbench.metrics.davis import jaccard_and_boundary

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
    pairs = real_davis_workload(root, every=5)
    assert pairs, "the checkout has no results/ folder"
    frames = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for gt, pred in pairs:
            gt, pred = gt[::4], pred[::4]                      # every 4th frame keeps the test short
            j, f = jaccard_and_boundary(gt, pred)
            np.testing.assert_array_equal(j, official.db_eval_iou(gt, pred))
            np.testing.assert_array_equal(f, official.db_eval_boundary(gt, pred))
            frames += len(gt)
    assert frames > 200


def run_script(script: Path, args: list[str]) -> None:
    result = subprocess.run([sys.executable, script.name, *args], cwd=script.parent, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_revos_equals_visa_eval_revos(tmp_path):
    visa = checkout("RVOSBENCH_OFFICIAL_VISA", "tools/eval_revos.py")
    fixture = write_fixture("revos", tmp_path / "data")
    values = {"vid_va_0": 255, "vid_va_1": 1}
    predictions = write_predictions(fixture, "valid", tmp_path / "pred" / "Annotations", lambda v, e: values[v])
    run_script(visa / "tools" / "eval_revos.py", [
        str(predictions), "--visa_exp_path", str(fixture.root / "meta_expressions_valid_.json"),
        "--visa_mask_path", str(fixture.root / "mask_dict.json"),
        "--visa_foreground_mask_path", str(fixture.root / "mask_dict_foreground.json")])
    official = json.loads((tmp_path / "pred" / "revos_valid.json").read_text())
    ours = run_offline_eval("benchmarks/revos.yaml", predictions, root=str(fixture.root), out=tmp_path / "scores",
                            workers=1).metrics
    names = {"referring": "_referring", "reason": "_reasoning", "overall": ""}
    for group, suffix in names.items():
        for measure, key in (("J", "J"), ("F", "F"), ("A", "A"), ("R", "R"), ("JF", "J&F")):
            # the script averages in the order its worker processes finish: equal up to float rounding
            assert 100 * ours[key + suffix] == pytest.approx(official[group][measure], abs=1e-9), (group, measure)


def test_mevis_v2_equals_eval_mevis_with_no_target_expressions(tmp_path):
    mevis = checkout("RVOSBENCH_OFFICIAL_MEVIS", "tools/eval_mevis.py")
    fixture = write_fixture("mevis_v2", tmp_path / "data")
    predictions = write_predictions(fixture, "valid_u", tmp_path / "pred", lambda v, e: 0 if e == "3" else 255)
    stdout = run_script(mevis / "tools" / "eval_mevis.py", [
        "--mevis_exp_path", str(fixture.root / "valid_u" / "meta_expressions_v2.json"),
        "--mevis_mask_path", str(fixture.root / "valid_u" / "mask_dict.json"),
        "--mevis_pred_path", str(predictions), "--save_name", str(tmp_path / "mevis.json")])
    official = {line.split(":")[0]: float(line.split(":")[1]) for line in stdout.splitlines()
                if line.startswith(("J:", "F:", "J&F:"))}
    per_expression = json.loads((tmp_path / "mevis.json").read_text())
    ours = run_offline_eval("benchmarks/mevis_v2.yaml", predictions, root=str(fixture.root), out=tmp_path / "s",
                            workers=1)
    for key in ("J", "F", "J&F"):
        assert ours.metrics[key] == pytest.approx(official[key], abs=1e-12), key
    no_target = next(r for r in ours.records if r["exp_id"] == "3")
    assert per_expression[f"{no_target['video_id']}_3"] == [1.0, 1.0] == [no_target["J"], no_target["F"]]
