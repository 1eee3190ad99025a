"""``fcmatch sweep SWEEP.yaml``: train and evaluate a grid of hyperparameters against the untuned base model.

The sweep file's keys are those of :class:`fcmatch.sweep.config.SweepConfig` (docs/sweeps.md); the flags
here override its scalar ones. Running the same command again resumes: finished points are not redone.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import field_docs
    from fcmatch.sweep.config import SweepConfig

    docs = field_docs(SweepConfig)
    cmd = sub.add_parser(
        "sweep",
        help="train and evaluate a grid of hyperparameters; results.csv, figures and report.html",
        description="Train each training point of SWEEP.yaml once, evaluate every decoding point on it and on the "
        "untuned base model, and write results.csv, plots/ and report.html into its out folder. "
        "Resumable: run the same command again after an interruption.",
    )
    cmd.add_argument("config", metavar="SWEEP.yaml", help="sweep file (e.g. configs/sweep-instruct.yaml)")
    cmd.add_argument("--out", default=argparse.SUPPRESS, metavar="DIR", help=docs["out"])
    for name in ("max_test", "batch_size", "threads"):
        cmd.add_argument("--" + name.replace("_", "-"), dest=name, type=int, default=argparse.SUPPRESS, metavar="N",
                         help=docs[name])
    cmd.add_argument("--progress", action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                     help=docs["progress"])
    cmd.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from fcmatch.sweep import load_sweep, run_sweep

    overrides = {k: getattr(args, k) for k in ("out", "max_test", "batch_size", "threads", "progress") if hasattr(args, k)}
    outcome = run_sweep(load_sweep(args.config, overrides))
    print(f"{outcome.trained} training run(s) and {outcome.evaluated} evaluation(s) done, {outcome.reused} reused")
    print(f"results: {outcome.results}")
    print(f"report: {outcome.report.resolve()}")
    return 0
