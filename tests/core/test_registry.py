"""Registries: wildcards, descriptions, did-you-mean, duplicates, dotted variants."""
import pytest

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import Registry, deep_merge


@pytest.fixture
def reg() -> Registry:
    registry = Registry("thing")

    @registry.register_module()
    class Alpha:
        """Alpha does the first thing.

        More text that is not shown.
        """

        def __init__(self, width: int = 1, opts: dict | None = None):
            self.width, self.opts = width, opts or {}

    @registry.register_module(name="alphabet")
    def make_alphabet(width: int = 2):
        """Alphabet factory."""
        return ("alphabet", width)

    registry.register_variant("Alpha.wide", "Alpha", {"width": 8, "opts": {"a": 1}}, "Alpha, but wide")
    registry.register_variant("Alpha.wider", "Alpha.wide", {"opts": {"b": 2}})
    return registry


def test_list_with_wildcards_and_descriptions(reg: Registry) -> None:
    assert reg.list("Alpha*") == [
        ("Alpha", "Alpha does the first thing."),
        ("Alpha.wide", "Alpha, but wide"),
        ("Alpha.wider", "Alpha.wide with {'opts': {'b': 2}}"),
    ]
    assert [n for n, _ in reg.list("alpha*")] == ["alphabet"]
    assert reg.list("zzz*") == []


def test_variants_resolve_to_base_plus_overrides(reg: Registry) -> None:
    built = reg.build_from({"type": "Alpha.wider"})
    assert built.width == 8 and built.opts == {"a": 1, "b": 2}
    # A card's explicit defaults must not undo the variant: the variant's own keys win.
    built = reg.build_from({"type": "Alpha.wide", "width": 3, "opts": {"a": 0, "c": 5}})
    assert built.width == 8 and built.opts == {"a": 1, "c": 5}


def test_unknown_name_suggests_close_matches(reg: Registry) -> None:
    with pytest.raises(ConfigError) as info:
        reg.build_from({"type": "Alpah"}, where="study.yaml:4")
    assert "unknown thing 'Alpah'" in str(info.value) and "'Alpha'" in str(info.value)
    assert str(info.value).startswith("study.yaml:4")


def test_duplicate_registration_is_an_error(reg: Registry) -> None:
    with pytest.raises(ConfigError, match="already registered"):
        reg.register_module(name="Alpha", module=type("Other", (), {}))
    with pytest.raises(ConfigError, match="already registered"):
        reg.register_variant("Alpha.wide", "Alpha", {})


def test_bad_kwargs_and_missing_type_are_config_errors(reg: Registry) -> None:
    with pytest.raises(ConfigError, match="cannot build"):
        reg.build_from({"type": "Alpha", "colour": 3})
    with pytest.raises(ConfigError, match="missing 'type'"):
        reg.build_from({"width": 3})


def test_deep_merge_semantics() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}, "d": 1}
    assert deep_merge(base, {"a": {"_delete_": True, "x": 1}}) == {"a": {"x": 1}, "d": 1}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
