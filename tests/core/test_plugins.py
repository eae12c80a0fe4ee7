"""Plug-ins from files (unique module names, errors with file:line) and from entry points."""
import sys
from pathlib import Path

import pytest

from rvosbench.core.errors import PluginError
from rvosbench.core.plugins import load_entry_points, load_plugin, load_plugin_file
from rvosbench.core.registry import MODELS


def test_plugin_file_registers_under_a_unique_module_name(tmp_path: Path) -> None:
    folder = tmp_path / "models"  # a folder named like rival repos' top-level package
    folder.mkdir()
    path = folder / "plugin.py"
    path.write_text(
        "from rvosbench.core.registry import MODELS\n"
        "@MODELS.register_module(name='test_plugin_model_a')\n"
        "class A:\n    '''A plug-in model.'''\n"
    )
    module = load_plugin(str(path))
    assert module.__name__.startswith("rvosbench_plugin_plugin_")
    assert "models" not in sys.modules or not hasattr(sys.modules["models"], "A")
    assert ("test_plugin_model_a", "A plug-in model.") in MODELS.list("test_plugin_model_a")
    assert load_plugin_file(path) is module  # loading twice does not re-register


def test_error_inside_plugin_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("x = 1\n\ndef f():\n    return 1 / 0\n\nf()\n")
    with pytest.raises(PluginError) as info:
        load_plugin_file(path)
    assert f"{path}:4" in str(info.value) and "ZeroDivisionError" in str(info.value)


def test_syntax_error_in_plugin(tmp_path: Path) -> None:
    path = tmp_path / "syntax.py"
    path.write_text("def f(:\n    pass\n")
    with pytest.raises(PluginError) as info:
        load_plugin_file(path)
    assert f"{path}:1" in str(info.value)


def test_duplicate_registration_in_plugin_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.py"
    path.write_text(
        "from rvosbench.core.registry import MODELS\n"
        "class B: pass\n"
        "MODELS.register_module(name='test_plugin_dup', module=B)\n"
        "MODELS.register_module(name='test_plugin_dup', module=B)\n"
    )
    with pytest.raises(PluginError) as info:
        load_plugin_file(path)
    assert f"{path}:4" in str(info.value) and "already registered" in str(info.value)


def test_missing_plugin_file() -> None:
    with pytest.raises(PluginError, match="not found"):
        load_plugin("does/not/exist.py")
    with pytest.raises(PluginError, match="cannot import"):
        load_plugin("no_such_module_xyz")


def test_entry_point_plugin_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "rvb_ep_plugin_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from rvosbench.core.registry import MODELS\n"
        "@MODELS.register_module(name='test_entry_point_model')\n"
        "class EP:\n    '''Registered through an entry point.'''\n"
    )
    dist = tmp_path / "rvb_ep_plugin_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rvb-ep-plugin-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[rvosbench.plugins]\nmine = rvb_ep_plugin_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "mine" in load_entry_points()
    assert "test_entry_point_model" in MODELS
