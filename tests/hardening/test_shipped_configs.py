"""Every YAML the repository ships passes the checks a user's own file goes through, so a key added to a
model or a benchmark without its schema (or a schema that forgot a key) fails here, not in a user's run.

models/, benchmarks/, ablations/ are read through the plan's schemas (card section, model and benchmark
classes, study, train and eval sections, every split of every benchmark); reports/ through the report
spec and claims readers.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rvosbench.core.locate import REPO_ROOT
from rvosbench.core.plan import load_plan, read_benchmark_arg, read_card
from rvosbench.core.registry import BENCHMARKS, MODELS
from rvosbench.core.schema import ModelConfig, check_registered
from rvosbench.core.validate import check_benchmark, check_plan
from rvosbench.engine.catalog import load_catalog


def shipped(folder: str) -> list[Path]:
    return sorted((REPO_ROOT / folder).glob("*.yaml"))


@pytest.fixture(scope="module", autouse=True)
def catalog() -> None:
    load_catalog([])


@pytest.mark.parametrize("path", shipped("models"), ids=lambda p: p.stem)
def test_every_model_card_validates(path: Path) -> None:
    card, loaded = read_card(path.stem, None)  # the card section against CardSection
    assert card["model"]["type"] in MODELS
    assert check_registered(MODELS, card["model"], "model", base=ModelConfig) == [], loaded.path


@pytest.mark.parametrize("path", shipped("benchmarks"), ids=lambda p: p.stem)
def test_every_benchmark_config_validates_with_each_split(path: Path) -> None:
    config, loaded = read_benchmark_arg(str(path))
    for split in BENCHMARKS.resolve(config["type"])[0].splits:
        check_benchmark({**config, "split": split}, lambda key: [(loaded, key)])


@pytest.mark.parametrize("path", shipped("ablations"), ids=lambda p: p.stem)
def test_every_study_validates(path: Path) -> None:
    plan = load_plan(path)
    load_catalog(plan.plugins)
    check_plan(plan)
    assert plan.train_cells and plan.eval_cells


def test_the_report_specs_and_claims_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    from rvosbench.report.claims import load_claims
    from rvosbench.report.spec import load_spec

    assert {p.stem for p in shipped("reports")} == {"ablation", "leaderboard", "claims"}, "a new spec: check it here"
    monkeypatch.chdir(REPO_ROOT)  # the specs are found from the current folder, as the CLI finds them
    for kind in ("ablation", "leaderboard"):
        assert load_spec(REPO_ROOT / "reports" / f"{kind}.yaml", kind)["formats"]
    claims = load_claims(REPO_ROOT / "reports" / "claims.yaml")
    variants = set(load_plan(REPO_ROOT / "ablations" / "all.yaml").variants)
    assert {v for c in claims for v in (c["with"], *c["without"])} <= variants


@pytest.mark.parametrize("option, value", [("proxy_temporal", False), ("video_temporal", False),
                                           ("attention", "coupled_pair"), ("propagate_proxies", False)])
def test_proxyformer_switches_are_settable_without_plus(option: str, value: object) -> None:
    plan = load_plan(REPO_ROOT / "ablations" / "jsc.yaml", [f"model.{option}={str(value).lower()}"])
    check_plan(plan)
    assert {c.config["model"][option] for c in plan.train_cells} == {value}
