"""``fcmatch generate`` (responses to instructions, flags from GenerateConfig) and ``fcmatch score`` (their
text metrics and a paired test against a base model, flags from ScoreConfig)."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments
    from fcmatch.instruct.config import GenerateConfig, ScoreConfig

    p = sub.add_parser("generate", help="answer instructions with a base or tuned model (pred.jsonl)",
                       description="Writes one prediction per instruction and, beside them, the resolved config "
                       "(pred.config.yaml). Re-run the same command to resume.")
    add_arguments(p, GenerateConfig)
    p.set_defaults(func=_generate)
    p = sub.add_parser("score", help="text metrics of fcmatch generate's predictions, with 95%% intervals",
                       description="BLEU, ROUGE-1/2/L, BERTScore, exact match and token F1 of a pred.jsonl against "
                       "its references, each with a bootstrap interval; --base adds a paired test per metric. "
                       "Writes <PRED stem>.scores.json (or --out) and the resolved config beside it.")
    add_arguments(p, ScoreConfig)
    p.set_defaults(func=_score)


def _generate(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.instruct.config import GenerateConfig
    from fcmatch.instruct.generate import generate

    print(json.dumps(generate(from_args(GenerateConfig, args))))
    return 0


def _score(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args
    from fcmatch.instruct.config import ScoreConfig
    from fcmatch.instruct.evaluate import format_table, score

    config = from_args(ScoreConfig, args)
    result = score(config)
    if config.json:
        print(json.dumps({k: v for k, v in result.items() if k != "items"}))
    else:
        print(format_table(result))
    return 0
