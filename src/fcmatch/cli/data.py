"""``fcmatch data stats|convert|split``: inspect, convert and split causal-map files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect, convert and split causal-map files (JSONL, claims CSV, MATCH JSON)")
    cmds = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    stats = cmds.add_parser("stats", help="counts of sentences, edges, signs, sources and token lengths")
    stats.add_argument("file", help="causal maps: .jsonl, .csv or .json")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument("--no-tokens", action="store_true", help="skip token lengths (no tokenizer load)")
    stats.add_argument("--tokenizer", default="smollm2-135m-instruct", help="model whose tokenizer counts tokens")
    stats.set_defaults(func=_stats)

    convert = cmds.add_parser("convert", help="convert between formats (chosen by extension)")
    convert.add_argument("input")
    convert.add_argument("output", help=".jsonl (fcmatch), .csv (causal claims) or .json (MATCH)")
    convert.set_defaults(func=_convert)

    split = cmds.add_parser("split", help="seeded split by sentence or by source")
    split.add_argument("input")
    split.add_argument("--by", choices=["sentence", "source"], default="sentence")
    split.add_argument("--fractions", type=float, nargs="+", default=[0.8, 0.2], help="for --by sentence")
    split.add_argument("--names", nargs="+", default=None, help="split names (default train val [test])")
    split.add_argument("--test-sources", nargs="+", default=[], help="for --by source: held-out sources")
    split.add_argument("--seed", type=int, default=0)
    split.add_argument("--out-dir", default=".", help="folder for <name>.jsonl files")
    split.set_defaults(func=_split)


def _stats(args: argparse.Namespace) -> int:
    from fcmatch.data.formats import read_maps
    from fcmatch.data.stats import dataset_stats

    maps = read_maps(args.file)
    tokenizer = None
    if not args.no_tokens:
        from fcmatch.models import load_tokenizer

        tokenizer = load_tokenizer(args.tokenizer)
    stats = dataset_stats(maps, tokenizer)
    if args.json:
        print(json.dumps(stats))
    else:
        for key, value in stats.items():
            print(f"{key:>24}: {value}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from fcmatch.data.formats import read_maps, write_maps

    maps = read_maps(args.input)
    write_maps(maps, args.output)
    print(f"wrote {len(maps)} causal maps to {args.output}")
    return 0


def _split(args: argparse.Namespace) -> int:
    from fcmatch.data.formats import read_maps, write_jsonl
    from fcmatch.data.splits import split_by_sentence, split_by_source

    maps = read_maps(args.input)
    if args.by == "sentence":
        parts = split_by_sentence(maps, args.fractions, args.seed)
        default_names = ["train", "val", "test"][: len(parts)] if len(parts) <= 3 else [f"part{i}" for i in range(len(parts))]
    else:
        if not args.test_sources:
            raise ValueError("--by source needs --test-sources NAME [NAME ...]")
        parts = list(split_by_source(maps, args.test_sources))
        default_names = ["in_domain", "out_of_domain"]
    names = args.names or default_names
    if len(names) != len(parts):
        raise ValueError(f"--names needs {len(parts)} names, got {names}")
    for name, part in zip(names, parts, strict=True):
        path = Path(args.out_dir) / f"{name}.jsonl"
        write_jsonl(part, path)
        print(f"{path}: {len(part)} causal maps")
    return 0
