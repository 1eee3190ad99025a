"""``fcmatch report``: an HTML report (plus PNGs) of an experiment folder or a training run."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="HTML report of an experiment folder (base vs fine-tuned) or a training run")
    p.add_argument("path", help="experiment folder (gold.jsonl, pred_*.jsonl, run/) or a training run folder")
    p.add_argument("--out", default=None, help="report folder (default PATH/report)")
    p.add_argument("--rescore", action="store_true", help="recompute metrics.json even if it exists")
    p.add_argument("--matchers", nargs="+", default=["exact", "embedding"], help="node matchers; the first is primary")
    p.add_argument("--examples", type=int, default=40, help="example sentences shown, worst first")
    p.add_argument("--no-bertscore", action="store_true", help="skip BERTScore when scoring")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from fcmatch.report import write_report

    index = write_report(args.path, args.out, args.rescore, tuple(args.matchers), args.examples, not args.no_bertscore)
    print(index)
    return 0
