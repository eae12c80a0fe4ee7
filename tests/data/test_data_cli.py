"""``rvosbench data fixture|check|synth`` and ``rvosbench bench data`` end to end (in process)."""
import pytest
from PIL import Image

from rvosbench.cli.main import main
from rvosbench.data import speed


def test_fixture_then_check(tmp_path, capsys):
    root = tmp_path / "ytvos"
    assert main(["data", "fixture", "ref_youtube_vos", str(root)]) == 0
    assert main(["data", "check", "benchmarks/ref_youtube_vos.yaml", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "valid" in out and "no masks: server split" in out
    assert "warning:" in out and "the released dataset has 202" in out
    assert main(["data", "fixture", "ref_youtube_vos", str(root)]) == 2  # not empty: refuses to overwrite
    assert "not empty" in capsys.readouterr().err


def test_check_reports_a_damaged_copy_precisely(tmp_path, capsys):
    root = tmp_path / "a2d"
    main(["data", "fixture", "a2d_sentences", str(root)])
    capsys.readouterr()
    (root / "Release" / "clips320H" / "zzd1pLVtWHU.mp4").unlink()
    assert main(["data", "check", "a2d_sentences", "--root", str(root), "--split", "test"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "zzd1pLVtWHU.mp4" in err[0] and "clip of video 'zzd1pLVtWHU'" in err[0]


def test_synth_preview(tmp_path, capsys):
    out = tmp_path / "strip.png"
    code = main(["data", "synth", "--set", f"root={tmp_path / 'cache'}", "--set", "videos={test: 3, val: 2}",
                 "--preview", str(out), "--count", "4"])
    assert code == 0 and Image.open(out).height > 4 * 64
    text = capsys.readouterr().out
    assert "test" in text and "val" in text and "expressions" in text


def test_unknown_fixture_format_is_one_line(tmp_path, capsys):
    assert main(["data", "fixture", "davis", str(tmp_path / "x")]) == 2
    assert "did you mean" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_bench_data_prints_rates(capsys):
    assert speed.main(["--frames", "3", "--size", "48x64", "--repeats", "1", "--clips", "2"]) == 0
    out = capsys.readouterr().out
    assert "JPEG frames" in out and "cv2/PIL" in out and "synth training clips" in out
