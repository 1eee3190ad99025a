"""``fcmatch evaluate``: edge P/R/F1 (micro, macro, bootstrap CIs) of predicted causal maps, plus text metrics.

Flags come from :class:`fcmatch.evaluate.config.EvaluateConfig`.
"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments
    from fcmatch.evaluate.config import EvaluateConfig
    from fcmatch.evaluate.matching import MATCHERS

    names = "; ".join(f"{m.name}: {m.description}, default threshold {m.threshold:g}" for m in MATCHERS.values())
    cmd = sub.add_parser(
        "evaluate",
        help="score predicted causal maps against gold maps",
        description="Edge precision/recall/F1 of predicted causal maps, sentences paired by text. "
        f"Gold and pred may be fcmatch JSONL, causal-claims CSV or MATCH JSON. Node matchers: {names}. "
        "With --out, the resolved config is written beside it (result.config.yaml).",
    )
    add_arguments(cmd, EvaluateConfig)
    cmd.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.evaluate.config import EvaluateConfig
    from fcmatch.evaluate.summary import evaluate, format_table

    config = from_args(EvaluateConfig, args)
    result = evaluate(config)
    if config.json:
        print(json.dumps({k: v for k, v in result.items() if k != "per_sentence"}))
    else:
        print(format_table(result))
    return 0
