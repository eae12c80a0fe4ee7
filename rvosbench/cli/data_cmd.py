"""``rvosbench data``: write fixtures, check a dataset copy, generate and preview ``synth``.

* ``rvosbench data fixture <format> DIR`` writes a tiny dataset in a released layout.
* ``rvosbench data check benchmarks/<name>.yaml [--root DIR] [--split S]`` validates a copy and prints
  counts per split; any problem is one line naming the file (and line or key) and what to do.
* ``rvosbench data synth [--preview out.png]`` generates (or finds) the synth cache, prints its counts
  per split and expression type, and optionally writes a captioned strip with the ground truth.
"""
from __future__ import annotations

import argparse
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from rvosbench.core.config import apply_overrides, parse_override
from rvosbench.core.errors import ConfigError, UserError

ACTIONS = ("fixture", "check", "synth")


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help="fixtures, checks and previews of benchmarks",
                                   description=__doc__.split("\n\n", 1)[1])
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    fixture = actions.add_parser("fixture", parents=[common], help="write a tiny dataset in a released layout")
    fixture.add_argument("format", help="ref_youtube_vos | ref_davis17 | a2d_sentences | jhmdb_sentences | mevis")
    fixture.add_argument("dir", type=Path, help="output folder (new or empty)")
    fixture.add_argument("--force", action="store_true", help="write into a non-empty folder")

    check = actions.add_parser("check", parents=[common], help="validate a dataset copy and print counts")
    check.add_argument("config", help="benchmarks/<name>.yaml or a benchmark name")
    check.add_argument("--root", type=Path, help="dataset root (overrides the config's root)")
    check.add_argument("--split", action="append", help="split(s) to check (default: all)")
    check.add_argument("--decode", type=_count_or_all, default=2, metavar="N|all",
                       help="also decode frames and masks of the first N samples per split, or of all "
                            "of them to find every corrupt file (default 2)")

    synth = actions.add_parser("synth", parents=[common], help="generate synth and preview it")
    synth.add_argument("--config", default="synth", help="benchmark config (default benchmarks/synth.yaml)")
    synth.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a generator option, e.g. --set seed=3 --set multi_object=true")
    synth.add_argument("--split", default=None, help="split to preview (default: the config's)")
    synth.add_argument("--preview", type=Path, metavar="PNG", help="write a strip of frames with GT and captions")
    synth.add_argument("--count", type=int, default=10, help="expressions in the preview (default 10)")
    parser.set_defaults(handler=run)
    for sub in (fixture, check, synth):
        sub.set_defaults(handler=run)


def _count_or_all(text: str) -> int | None:
    if text == "all":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of samples or 'all', got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    from rvosbench.engine.catalog import load_catalog

    load_catalog(args.plugin)
    return {"fixture": run_fixture, "check": run_check, "synth": run_synth}[args.action](args)


def run_fixture(args: argparse.Namespace) -> int:
    from rvosbench.data.fixtures import write_fixture

    fixture = write_fixture(args.format, args.dir, overwrite=args.force)
    splits = Counter(split for split, _, _ in fixture.truth)
    listed = ", ".join(f"{split}: {count} expressions" for split, count in sorted(splits.items()))
    print(f"wrote a {args.format} fixture to {args.dir} ({listed})")
    print(f"check it with: rvosbench data check benchmarks/{args.format}.yaml --root {args.dir}")
    return 0


def _benchmark_config(spec: str, root: Path | None = None, overrides: list[str] | None = None,
                      splits: list[str] | None = None) -> tuple[dict[str, Any], str]:
    """The benchmark a command names, resolved as a study's entry is (:func:`rvosbench.core.plan.read_benchmark_arg`)
    with ``--root``/``--set`` on top, and checked with each of ``splits`` (default: the config's own, if
    any) against its class's schema before any work: ``(config, where)``."""
    from rvosbench.core.plan import read_benchmark_arg
    from rvosbench.core.validate import check_benchmark

    config, loaded = read_benchmark_arg(spec, root=root, where=f"rvosbench data {spec}", split_required=False)
    config = apply_overrides(config, overrides or [], source="--set")
    options = [(parse_override(text)[0], text) for text in overrides or []]
    for split in splits or [None]:  # a wrong split is blamed on its --split
        loaded.overrides = options + ([("split", f"--split {split}")] if split else [])
        check_benchmark({**config, **({"split": split} if split else {})}, lambda key: [(loaded, key)])
    return config, str(loaded.path)


def run_check(args: argparse.Namespace) -> int:
    from rvosbench.core.registry import BENCHMARKS
    from rvosbench.data import build_benchmark

    config, path = _benchmark_config(args.config, root=args.root, splits=args.split)
    cls, _ = BENCHMARKS.resolve(config["type"], where=path)
    splits = args.split or list(getattr(cls, "splits", ()) or [config["split"]])
    print(f"{config['type']} at {config.get('root')}")
    print(f"{'split':<14}{'videos':>8}{'expressions':>13}{'frames':>9}{'annotated':>11}{'objects':>9}  fingerprint")
    failures: list[tuple[str, UserError]] = []
    for split in splits:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                bench = build_benchmark({**config, "split": split}, where=path)
                stats = bench.stats()
                for sample in bench.sample_list()[: args.decode]:  # None (all) slices everything
                    sample.frames()
                    sample.masks()
                fingerprint = bench.fingerprint()
            except UserError as error:
                failures.append((split, error))
                print(f"{split:<14}error: {error}")
                continue
        print(f"{split:<14}{stats.videos:>8}{stats.expressions:>13}{stats.frames:>9}{stats.annotated_frames:>11}"
              f"{stats.objects:>9}  {fingerprint}" + ("" if bench.ground_truth else "  (no masks: server split)"))
        for warning in caught:
            print(f"{'':<14}warning: {warning.message}")
    if failures:
        split, error = failures[0]
        raise type(error)(f"split '{split}' failed: {error.what}", where=error.where, hint=error.hint)
    return 0


def run_synth(args: argparse.Namespace) -> int:
    from rvosbench.data import build_benchmark
    from rvosbench.data.preview import preview_strip
    from rvosbench.data.synth.generate import SPLITS

    config, path = _benchmark_config(args.config, overrides=args.set, splits=[args.split] if args.split else None)
    if config.get("type") != "synth":
        raise ConfigError(f"{path} is a '{config.get('type')}' config, not synth", where=path)
    started = time.perf_counter()
    bench = build_benchmark({**config, "split": args.split or config.get("split", "test")}, where=path)
    samples = bench.sample_list()
    seconds = time.perf_counter() - started
    print(f"synth dataset: {bench.root} (ready in {seconds:.1f} s)")
    for split in SPLITS:
        if not bench.config.video_count(split):
            continue
        split_samples = samples if split == bench.split else build_benchmark(
            {**config, "split": split, "progress": False}).sample_list()
        kinds = Counter(s.meta.get("type") for s in split_samples)
        listed = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        videos = len({s.video_id for s in split_samples})
        print(f"  {split:<14}{videos:>4} videos {len(split_samples):>5} expressions ({listed})")
    if args.preview:
        preview_strip(_mixed(samples, args.count), args.preview)
        print(f"preview of {bench.split}: {args.preview}")
    return 0


def _mixed(samples: list, count: int) -> list:
    """Up to ``count`` samples, cycling through the expression types so the preview shows each."""
    by_type: dict[str, list] = {}
    for sample in samples:
        by_type.setdefault(sample.meta.get("type") or "", []).append(sample)
    chosen, queues = [], [list(v) for _, v in sorted(by_type.items())]
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return sorted(chosen, key=lambda s: (s.video_id, int(s.exp_id)))
