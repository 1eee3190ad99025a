"""``fcmatch align --data DIR`` (or ``--study N --db URL``): cross-validated agreement of automatic
measures with human verdicts, of a MATCH-layout folder or of a study in the web app's database;
``fcmatch align --fit DIR --data DIR2 --save frozen.json`` fits on one study and scores another,
``fcmatch align --frozen frozen.json --data DIR2`` applies a saved fit unchanged.

Flags come from :class:`fcmatch.judge.config.AlignConfig`.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments
    from fcmatch.judge.config import AlignConfig

    parser = sub.add_parser("align", help="how well automatic measures agree with comparative human judgement",
                            description="With --out, the result is written as JSON and the config beside it; "
                                        "with --save, the frozen measures (every parameter) as JSON.")
    add_arguments(parser, AlignConfig)
    parser.set_defaults(func=_align)


def _align(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.judge.align import align_study, format_alignment
    from fcmatch.judge.config import AlignConfig

    config = from_args(AlignConfig, args)
    data = None
    if config.study is not None:
        from fcmatch.study.export import load_study

        data = load_study(config.db, config.study)
    result = align_study(config, data)
    print(json.dumps(result) if config.json else format_alignment(result))
    return 0
