"""``rvosbench eval``: score any model's predictions offline with a benchmark's official protocol.

Reads a prediction folder or zip in the benchmark's native layout (or a COCO results JSON for
A2D/JHMDB), names any missing, extra or mis-sized file, writes ``samples.jsonl`` and ``summary.json``
and prints the metrics. ``--name`` registers the result in the result store next to trained models.
On a split without ground truth (Ref-YouTube-VOS valid, MeViS valid) it validates a submission zip.
"""
from __future__ import annotations

import argparse



def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(name, parents=[common], help="score predictions offline with a benchmark's official protocol",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", required=True,
                        help="benchmarks/<name>.yaml, a benchmark name, or name/split (e.g. synth/test)")
    parser.add_argument("--predictions", required=True, help="prediction folder, zip, or COCO results JSON (A2D/JHMDB)")
    parser.add_argument("--name", help="register the result in the result store under this model name")
    parser.add_argument("--split", help="override the benchmark config's split")
    parser.add_argument("--root", help="override the benchmark config's data root")
    parser.add_argument("--out", help="folder for summary.json, samples.jsonl, tables.json "
                                      "(default: <predictions>.scores unless --name is given)")
    parser.add_argument("--store", default="runs", help="result store folder used with --name (default: runs)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the result already stored under --name on this benchmark (else refused)")
    parser.add_argument("--workers", type=int, default=None, help="processes scoring videos in parallel (default: up to 4)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rvosbench.engine.catalog import load_catalog  # heavy imports only when the command runs
    from rvosbench.engine.offline_eval import default_workers, run_offline_eval
    from rvosbench.engine.scoring import start_early

    start_early(default_workers(args.workers))  # the scoring workers' imports overlap with loading the catalog
    load_catalog(args.plugin)
    result = run_offline_eval(args.benchmark, args.predictions, name=args.name, split=args.split, root=args.root,
                              out=args.out, store=args.store, workers=args.workers,
                              overwrite=args.overwrite)
    if result.validated_only is not None:
        print(f"{result.benchmark}/{result.split} has no local ground truth: the submission is valid "
              f"({result.validated_only} PNGs); upload it to the evaluation server")
        return 0
    keys = [k for k in result.headline if k in result.metrics] + \
        [k for k in result.metrics if k not in result.headline]
    print(f"{result.benchmark}/{result.split}: {len(result.records)} records")
    print("  ".join(f"{k} {100 * result.metrics[k]:.2f}" for k in keys))
    for label, folder in (("written to", result.out_dir), ("registered in the store at", result.store_dir)):
        if folder is not None:
            print(f"{label} {folder}")
    return 0
