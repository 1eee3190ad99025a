"""``fcmatch fewshot GRID.yaml``: ICL against pattern-based fine-tuning, distillation and MiniLM baselines.

The grid file's keys are those of :class:`fcmatch.fewshot.config.FewshotConfig` (docs/fewshot.md); the flags
here override its scalar ones. Running the same command again resumes: finished points are not redone.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import field_docs
    from fcmatch.fewshot.config import FewshotConfig

    docs = field_docs(FewshotConfig)
    cmd = sub.add_parser(
        "fewshot",
        help="few-shot grid: ICL vs fine-tuning on k examples, in and out of domain; results.csv, report.md",
        description="Run every (method, k, seed, pattern) point of GRID.yaml on the same k examples per seed, score "
        "each test set by verbalizer logits, and write results.csv, fewshot-*.png and report.md into its out folder. "
        "Resumable: run the same command again after an interruption.",
    )
    cmd.add_argument("config", metavar="GRID.yaml", help="grid file (e.g. configs/fewshot-demo.yaml)")
    cmd.add_argument("--out", default=argparse.SUPPRESS, metavar="DIR", help=docs["out"])
    cmd.add_argument("--data", default=argparse.SUPPRESS, metavar="DIR", help=docs["data"])
    for name in ("test_cap", "batch_size", "threads"):
        cmd.add_argument("--" + name.replace("_", "-"), dest=name, type=int, default=argparse.SUPPRESS, metavar="N",
                         help=docs[name])
    cmd.add_argument("--progress", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                     help=docs["progress"])
    cmd.set_defaults(func=_fewshot)


def _fewshot(args: argparse.Namespace) -> int:
    from fcmatch.fewshot.config import load_grid
    from fcmatch.fewshot.grid import run_grid

    names = ("out", "data", "test_cap", "batch_size", "threads", "progress")
    report = run_grid(load_grid(args.config, {k: getattr(args, k) for k in names if hasattr(args, k)}))
    print(f"results: {report.parent / 'results.csv'}")
    print(f"report: {report.resolve()}")
    return 0
