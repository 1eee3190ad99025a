"""``fcmatch extract``: causal maps from a base or fine-tuned model, resumable; flags from ExtractConfig."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments
    from fcmatch.extract.config import ExtractConfig

    p = sub.add_parser("extract", help="extract causal maps from sentences with a base or fine-tuned model",
                       description="Writes the predictions and, beside them, the resolved config (pred.config.yaml).")
    add_arguments(p, ExtractConfig)
    p.set_defaults(func=_extract)


def _extract(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.extract import ExtractConfig, extract

    summary = extract(from_args(ExtractConfig, args))
    summary.pop("config")
    print(json.dumps(summary))
    return 0
