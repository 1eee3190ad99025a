"""Extraction throughput: fcmatch's default greedy path against a per-sentence ``model.generate`` loop.

Both decode the same sentences greedily with the same prompt and token limit in one process, so the
ratio is fair on a shared machine (both halves see the same load). fcmatch's path is what
``fcmatch extract`` runs: shared-prefix KV cache, rows refilled as they finish (``--no-share-prefix``
measures it without the prefix cache). Run:

    python benchmarks/extract_throughput.py [--n 64] [--batch-size 16] [--threads 1] [--json]

Sentences: the ../shared causal val split when present, else the bundled demo test data.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from fcmatch.data.formats import read_maps
from fcmatch.extract.generation import GenerationSettings, chat_prompt, generate_batch, generate_texts
from fcmatch.extract.greedy import common_prefix_length
from fcmatch.models import DEFAULT_MODEL, load
from fcmatch.tasks.causal import prompt_messages

SHARED_VAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "causal" / "val_data.csv"
DEMO_TEST = Path(__file__).resolve().parents[1] / "src" / "fcmatch" / "resources" / "demo" / "test.jsonl"


def sentences(n: int) -> tuple[list[str], str]:
    path = SHARED_VAL if SHARED_VAL.is_file() else DEMO_TEST
    texts = [m.text for m in read_maps(path)]
    return (texts * (n // max(len(texts), 1) + 1))[:n], str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--n", type=int, default=64, help="sentences")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    parser.add_argument("--no-share-prefix", action="store_true", help="prefill every prompt in full")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    texts, source = sentences(args.n)
    model, tokenizer = load(args.model)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    prompts = [chat_prompt(tokenizer, prompt_messages(t)) for t in texts]
    generate_batch(model, tokenizer, prompts[:1], GenerationSettings(max_new_tokens=4))  # warm-up

    start = time.perf_counter()
    batched: dict[int, str] = {}
    for batch in generate_texts(model, tokenizer, prompts, settings, args.batch_size, not args.no_share_prefix):
        batched.update(batch)
    t_batched = time.perf_counter() - start

    # the peer: what a plain per-sentence loop with model.generate does
    start = time.perf_counter()
    loop = []
    with torch.inference_mode():
        for prompt in prompts:
            enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            out = model.generate(**enc, max_new_tokens=args.max_new_tokens, do_sample=False,
                                 top_p=None, top_k=None, temperature=None, pad_token_id=tokenizer.pad_token_id)
            loop.append(tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    t_loop = time.perf_counter() - start

    same = sum(batched[i] == loop[i] for i in range(len(prompts)))
    result = {
        "sentences": len(prompts),
        "source": source,
        "batch_size": args.batch_size,
        "shared_prefix_tokens": 0 if args.no_share_prefix else common_prefix_length(
            tokenizer(prompts, add_special_tokens=False)["input_ids"]),
        "max_new_tokens": args.max_new_tokens,
        "threads": torch.get_num_threads(),
        "batched_s": round(t_batched, 2),
        "loop_s": round(t_loop, 2),
        "batched_sent_per_s": round(len(prompts) / t_batched, 3),
        "loop_sent_per_s": round(len(prompts) / t_loop, 3),
        "speedup": round(t_loop / t_batched, 2),
        "identical_outputs": same,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
