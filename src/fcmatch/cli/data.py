"""``fcmatch data stats|convert|split``: inspect, convert and split causal-map and instruction files.

Flags come from :mod:`fcmatch.data.config` (StatsConfig, ConvertConfig, SplitConfig).
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments
    from fcmatch.data.config import ConvertConfig, SplitConfig, StatsConfig

    data = sub.add_parser("data", help="inspect, convert and split causal-map files (JSONL, claims CSV, MATCH JSON) "
                                       "and instruction files (Alpaca, Dolly, chat)")
    cmds = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    actions = [
        ("stats", "counts of sentences, edges, signs, sources (instructions: records, categories, lengths) and "
         "token lengths", StatsConfig, _stats),
        ("convert", "convert between formats (chosen by extension or --to); the config goes beside OUTPUT",
         ConvertConfig, _convert),
        ("split", "seeded split by sentence or by source (instructions: by record, --stratify category)",
         SplitConfig, _split),
    ]
    for name, help_text, config_class, func in actions:
        parser = cmds.add_parser(name, help=help_text)
        add_arguments(parser, config_class)
        parser.set_defaults(func=func)


def _stats(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.data.config import StatsConfig
    from fcmatch.data.stats import file_stats

    config = from_args(StatsConfig, args)
    stats = file_stats(config)
    if config.json:
        print(json.dumps(stats))
    else:
        for key, value in stats.items():
            print(f"{key:>24}: {value}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.data.config import ConvertConfig
    from fcmatch.data.formats import convert_file

    config = from_args(ConvertConfig, args)
    print(f"wrote {convert_file(config)} records to {config.output}")
    return 0


def _split(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.data.config import SplitConfig
    from fcmatch.data.splits import split_file

    for path, count in split_file(from_args(SplitConfig, args)).items():
        print(f"{path}: {count} records")
    return 0
