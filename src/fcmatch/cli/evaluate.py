"""``fcmatch evaluate``: edge P/R/F1 (micro, macro, bootstrap CIs) of predicted causal maps, plus text metrics."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.evaluate.matching import MATCHERS

    names = ", ".join(f"{m.name} ({m.description}, default threshold {m.threshold:g})" for m in MATCHERS.values())
    cmd = sub.add_parser(
        "evaluate",
        help="score predicted causal maps against gold maps",
        description="Edge precision/recall/F1 of predicted causal maps, sentences paired by text. "
        "Gold and pred may be fcmatch JSONL, causal-claims CSV or MATCH JSON.",
    )
    cmd.add_argument("--gold", required=True, help="reference causal maps")
    cmd.add_argument("--pred", required=True, help="predicted causal maps")
    cmd.add_argument("--match", default="exact", choices=sorted(MATCHERS), metavar="NAME", help=f"node matcher: {names}")
    cmd.add_argument("--threshold", type=float, default=None, help="node similarity threshold in [0, 1]")
    cmd.add_argument("--json", action="store_true", help="print one JSON object (without per-sentence rows)")
    cmd.add_argument("--text-metrics", action="store_true", help="also BLEU, ROUGE-L, BERTScore, exact match")
    cmd.add_argument("--no-bertscore", action="store_true", help="with --text-metrics, skip BERTScore")
    cmd.add_argument("--bertscore-model", default=None, metavar="PATH", help="local encoder folder for BERTScore")
    cmd.add_argument("--compare", default=None, metavar="PRED2", help="second prediction file: paired bootstrap")
    cmd.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (0: no CIs)")
    cmd.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    cmd.add_argument("--out", default=None, metavar="FILE", help="write the full result with per-sentence rows as JSON")
    cmd.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from fcmatch.evaluate.summary import evaluate_files, format_table

    result = evaluate_files(
        args.gold,
        args.pred,
        matcher=args.match,
        threshold=args.threshold,
        text_metrics=args.text_metrics,
        bertscore=not args.no_bertscore,
        bertscore_model=args.bertscore_model,
        compare=args.compare,
        resamples=args.bootstrap,
        seed=args.seed,
        out=args.out,
    )
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "per_sentence"}))
    else:
        print(format_table(result))
    return 0
