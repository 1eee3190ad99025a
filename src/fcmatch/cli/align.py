"""``fcmatch align --data DIR``: cross-validated agreement of automatic measures with human verdicts."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("align", help="how well automatic measures agree with comparative human judgement")
    parser.add_argument("--data", required=True, help="folder with the layout of ../shared/data/match")
    parser.add_argument("--measure", action="append", default=None,
                        help="measure name (repeatable); default every measure of fcmatch.judge.measures.MEASURES")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_align)


def _align(args: argparse.Namespace) -> int:
    from fcmatch.judge.align import align, format_alignment

    result = align(args.data, args.measure)
    print(json.dumps(result) if args.json else format_alignment(result))
    return 0
