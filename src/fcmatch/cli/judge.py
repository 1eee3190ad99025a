"""``fcmatch judge report|scores``: Bradley-Terry scores, reliability and an HTML report of a study."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    judge = sub.add_parser("judge", help="scores, reliability and reports of comparative judgements")
    cmds = judge.add_subparsers(dest="judge_command", metavar="ACTION", required=True)

    report = cmds.add_parser("report", help="HTML report: BT scores, reliability, measure alignment")
    report.add_argument("data", help="folder with the layout of ../shared/data/match")
    report.add_argument("--out", default="judge-report.html", help="HTML file to write")
    report.add_argument("--measure", action="append", default=None, help="alignment measure (repeatable); default all")
    report.set_defaults(func=_report)

    scores = cmds.add_parser("scores", help="Bradley-Terry (Davidson) scores, SEs and Elo per item, plus reliability")
    scores.add_argument("data", help="folder with the layout of ../shared/data/match")
    scores.add_argument("--json", action="store_true", help="print one JSON object")
    scores.set_defaults(func=_scores)


def _report(args: argparse.Namespace) -> int:
    from fcmatch.judge.report import write_report

    write_report(args.data, args.out, args.measure)
    print(f"wrote {args.out}")
    return 0


def _scores(args: argparse.Namespace) -> int:
    from fcmatch.judge.scores import study_scores

    result = study_scores(args.data)
    if args.json:
        print(json.dumps(result))
    else:
        for item, row in result["items"].items():
            print(f"{item:>16}  bt {row['bt']:+.2f} ± {row['se']:.2f}  elo {row['elo']:7.1f}")
        print(json.dumps(result["reliability"], indent=1))
    return 0
