"""``rvosbench convert CARD OFFICIAL_CHECKPOINT --out FILE``: an authors' release file → an rvosbench checkpoint.

Reads the release safely (``weights_only``, with only the plain classes the releases pickle allowed),
maps its keys with the card's model class, prints one line each for missing keys, unexpected keys and
shape mismatches, and refuses (exit 2) unless all three are empty. The output is the model's checkpoint
(``save_checkpoint``) plus a ``converted_from`` record (file name, sha256, epoch and training arguments of
the release as plain values), loadable by ``rvosbench predict CARD --checkpoint FILE`` and by cards.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers, name: str, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        name, parents=[common], help="convert an authors' release checkpoint to rvosbench's format",
        description="Convert a rival's released checkpoint (ReferFormer {'model', 'args', ...}, MTTR "
                    "{'model_state_dict'} or a bare state dict) for the model of CARD.")
    parser.add_argument("card", help="model card name or file, e.g. referformer_r50")
    parser.add_argument("checkpoint", help="the authors' release file, e.g. r50_refytvos_joint.pth")
    parser.add_argument("--out", required=True, help="output checkpoint, e.g. checkpoints/referformer_r50.pt")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override keys of the card's model section")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from rvosbench.core.config import apply_overrides
    from rvosbench.core.errors import CheckpointError
    from rvosbench.core.hashing import file_sha256
    from rvosbench.core.plan import load_card
    from rvosbench.engine.catalog import load_catalog
    from rvosbench.models import build_model
    from rvosbench.models.checkpoint import read_checkpoint, save_checkpoint
    from rvosbench.models.official import (conversion_report, convert_official_state_dict, describe_release,
                                           report_lines, unwrap_state_dict)

    load_catalog(args.plugin)
    loaded = load_card(args.card, None, where="card")
    source = Path(args.checkpoint)
    data = read_checkpoint(source)  # checks the file before the (slow) model build
    state, rest = unwrap_state_dict(data, str(source))
    model = build_model(apply_overrides(loaded["model"], args.overrides, source="--set"))
    converted = convert_official_state_dict(model, state, str(source))
    report = conversion_report(model, converted)
    print(f"{source.name}: {len(state)} tensors in the authors' layout → {len(converted)} for "
          f"{loaded['card']['name']} ({type(model).__name__})")
    for line in report_lines(report):
        print(f"  {line}")
    if any(report.values()):
        counts = ", ".join(f"{len(names)} {kind}" for kind, names in report.items() if names)
        raise CheckpointError(f"the checkpoint does not fit {loaded['card']['name']}: {counts}", where=str(source),
                              hint="is it a release of this card's model and backbone? pick the matching card")
    with torch.no_grad():
        model.load_state_dict(converted, strict=False)  # checked above: every expected key is present
    record = {"file": source.name, "sha256": file_sha256(source), "card": loaded["card"]["name"],
              **describe_release(rest)}
    out = save_checkpoint(model, args.out, converted_from=record)
    print(f"wrote {out} (load it with: rvosbench predict {loaded['card']['name']} --checkpoint {out} ...)")
    return 0
