"""``fcmatch extract``: causal maps from a base or fine-tuned model, resumable."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="extract causal maps from sentences with a base or fine-tuned model")
    p.add_argument("--model", default="smollm2-135m-instruct", help="base model name/folder, or an fcmatch run folder")
    p.add_argument("--adapter", default=None, help="fcmatch run folder (or peft adapter) to apply on the base")
    p.add_argument("--quantize", choices=["nf4"], default=None, help="load the base in 4 bits")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="compute dtype (auto: fp32 on CPU, bf16 on CUDA; bfloat16 is faster on CPUs with AMX)")
    p.add_argument("--input", required=True, help="sentences: .jsonl, .csv or .json causal maps")
    p.add_argument("--output", required=True, help="predictions (fcmatch JSONL); re-run to resume")
    p.add_argument("--shots", type=int, default=0, help="k demonstrations before each sentence (base models)")
    p.add_argument("--demos", default=None, help="file the --shots demonstrations are drawn from")
    p.add_argument("--batch-size", type=int, default=16, help="rows decoded together (finished rows are refilled from the queue)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="token limit per answer")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default); > 0 samples")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (with --temperature)")
    p.add_argument("--seed", type=int, default=0, help="sampling and demonstration seed")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores; 1 on a busy shared machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_extract)


def _extract(args: argparse.Namespace) -> int:
    from fcmatch.extract import ExtractConfig, GenerationSettings, extract

    config = ExtractConfig(
        input=args.input,
        output=args.output,
        model=args.model,
        adapter=args.adapter,
        quantize=args.quantize,
        dtype=args.dtype,
        shots=args.shots,
        demos=args.demos,
        batch_size=args.batch_size,
        generation=GenerationSettings(args.max_new_tokens, args.temperature, args.top_p, args.seed),
        threads=args.threads,
        progress=not args.no_progress,
    )
    summary = extract(config)
    summary.pop("config")
    print(json.dumps(summary))
    return 0
