"""``fcmatch judge report|scores``: Bradley-Terry scores, reliability and an HTML report of a study.

Flags come from :class:`fcmatch.judge.config.JudgeReportConfig` and :class:`~fcmatch.judge.config.JudgeScoresConfig`.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments
    from fcmatch.judge.config import JudgeReportConfig, JudgeScoresConfig

    judge = sub.add_parser("judge", help="scores, reliability and reports of comparative judgements")
    cmds = judge.add_subparsers(dest="judge_command", metavar="ACTION", required=True)

    report = cmds.add_parser("report", help="HTML report: BT scores, reliability, measure alignment",
                             description="Writes the HTML page and the resolved config beside it (<name>.config.yaml).")
    add_arguments(report, JudgeReportConfig)
    # `fcmatch judge report DIR` as before: the folder may also come first, without --data
    report.add_argument("data", nargs="?", default=argparse.SUPPRESS, metavar="DIR", help="same as --data DIR")
    report.set_defaults(func=_report)

    scores = cmds.add_parser("scores", help="Bradley-Terry (Davidson) scores, SEs and Elo per item, plus reliability")
    add_arguments(scores, JudgeScoresConfig)
    scores.set_defaults(func=_scores)


def _report(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.judge.config import JudgeReportConfig
    from fcmatch.judge.report import judge_report

    config = from_args(JudgeReportConfig, args)
    data = None
    if config.study is not None:
        from fcmatch.study.export import load_study

        data = load_study(config.db, config.study)
    judge_report(config, data)
    print(f"wrote {config.out}")
    return 0


def _scores(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.judge.config import JudgeScoresConfig
    from fcmatch.judge.scores import study_scores

    config = from_args(JudgeScoresConfig, args)
    result = study_scores(config.data)
    if config.json:
        print(json.dumps(result))
    else:
        for item, row in result["items"].items():
            print(f"{item:>16}  bt {row['bt']:+.2f} ± {row['se']:.2f}  elo {row['elo']:7.1f}")
        print(json.dumps(result["reliability"], indent=1))
    return 0
