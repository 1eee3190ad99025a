"""``fcmatch report``: an HTML report (plus PNGs) of an experiment folder or a training run; flags from ReportConfig."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments
    from fcmatch.report.config import ReportConfig

    p = sub.add_parser("report", help="HTML report of an experiment folder (base vs fine-tuned) or a training run",
                       description="Writes index.html, its PNGs and the resolved config (config.yaml) to the report folder.")
    add_arguments(p, ReportConfig)
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.report import ReportConfig, report

    print(report(from_args(ReportConfig, args)))
    return 0
