"""``rvosbench show STUDY.yaml`` prints the resolved plan; ``show A.yaml B.yaml --diff`` compares."""
from __future__ import annotations

import argparse

from rvosbench.core.config import diff_configs, dump_yaml, load_config
from rvosbench.core.errors import ConfigError
from rvosbench.core.plan import Plan, load_plan
from rvosbench.core.registry import MODELS
from rvosbench.core.validate import check_plan
from rvosbench.engine.catalog import load_catalog


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help="print a study's resolved plan, or diff configs",
                                   description="Expand a study into its cells and print each cell's config.")
    parser.add_argument("configs", nargs="+", help="study (or any config) file(s)")
    parser.add_argument("--diff", action="store_true", help="print a unified diff of two resolved configs")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override keys (dotted); +key=value adds a new key")
    parser.add_argument("--cells", action="store_true", help="also print every cell's full config")
    parser.set_defaults(handler=run)


def print_plan(plan: Plan, with_configs: bool) -> None:
    print(f"study {plan.name}: {plan.title}")
    print(f"  source     {plan.source}")
    print(f"  plan key   {plan.key}")
    print(f"  baseline   {plan.baseline}")
    print(f"  variants   {', '.join(plan.variants)}")
    print(f"  seeds      {', '.join(map(str, plan.seeds))}")
    print(f"  benchmarks {', '.join(plan.benchmarks)}")
    from rvosbench.engine.training import is_trained

    trained = [c for c in plan.train_cells if is_trained(c)]
    print(f"\ntraining cells ({len(trained)}):")
    for cell in trained:
        print(f"  {cell.id:<40} {cell.key}  model={cell.config['model']['type']}")
    for cell in (c for c in plan.train_cells if not is_trained(c)):
        print(f"  {cell.id:<40} no training: "
              + ("train.steps is 0" if getattr(MODELS.resolve(cell.config["model"]["type"])[0], "trainable", True)
                 else "an inference-only model") + ", evaluated with the card's checkpoint as it is")
    print(f"\nevaluation cells ({len(plan.eval_cells)}):")
    for cell in plan.eval_cells:
        print(f"  {cell.id:<40} {cell.key}  trained by {cell.train_key}")
    if with_configs:
        for cell in (*plan.train_cells, *plan.eval_cells):
            print(f"\n# --- {cell.kind} cell {cell.id} ({cell.key})")
            print(dump_yaml(cell.config), end="")


def run(args: argparse.Namespace) -> int:
    if args.diff:
        if len(args.configs) != 2:
            raise ConfigError("--diff needs exactly two config files")
        a, b = (load_config(path).data for path in args.configs)
        print(diff_configs(a, b, *args.configs) or "(no differences)")
        return 0
    load_catalog(args.plugin)  # built-in models first: --set may then name any key a model's schema declares
    for path in args.configs:
        plan = load_plan(path, args.overrides)
        load_catalog([*args.plugin, *plan.plugins])
        check_plan(plan)  # models and benchmarks against their classes' schemas
        print_plan(plan, args.cells)
    return 0
