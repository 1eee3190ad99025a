"""``fcmatch distill``: context distillation (a teacher prompt with a long context -> a LoRA student without it),
flags from :class:`fcmatch.train.distill_run.DistillRunConfig`; ``--config FILE`` reads them from YAML first."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments
    from fcmatch.train.distill_run import DistillRunConfig

    p = sub.add_parser("distill", help="context distillation: a LoRA student learns to answer without the context",
                       description="Trains a LoRA student that sees the short prompt to match the frozen model that "
                       "sees the context too (KL, docs/distillation.md). Writes adapter/, metrics.jsonl, summary.json "
                       "(KL before/after) and config.yaml into --output-dir; the adapter loads with "
                       "fcmatch.models.load(MODEL, adapter=OUTPUT_DIR/adapter).")
    p.add_argument("--config", metavar="FILE", help="YAML file with the same keys (flags override it)")
    add_arguments(p, DistillRunConfig)
    p.set_defaults(func=_distill)


def _distill(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args, read_values
    from fcmatch.train.distill_run import DistillRunConfig, run_distill

    base = read_values(args.config) if args.config else None
    print(json.dumps(run_distill(from_args(DistillRunConfig, args, base))))
    return 0
