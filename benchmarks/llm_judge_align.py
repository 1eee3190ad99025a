"""The model judge's agreement with people on ../shared/data/match, beside quality_f1 and the floor.

Runs :func:`fcmatch.judge.align.align` (nested leave-one-sentence-out, bootstrap CIs over sentences)
on ``llm_judge`` (or ``llm_judge_sample``), ``quality_f1`` and ``edge_count``, with the judge's answers
cached in a JSONL file so that an interrupted run resumes and a rerun asks the model nothing. Prints
the alignment table, the judge's position bias and the seconds taken; ``--out`` writes the JSON.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/llm_judge_align.py \\
        --cache /tmp/llm_judge_cache.jsonl --out /tmp/llm_judge_align.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/match", help="study folder [../shared/data/match]")
    parser.add_argument("--judge", default="llm_judge", choices=["llm_judge", "llm_judge_sample"])
    parser.add_argument("--model", default=None, help="model for the judge (default: the entry's, SmolLM2-135M)")
    parser.add_argument("--compare", nargs="*", default=["quality_f1", "edge_count"],
                        help="measures run beside the judge [quality_f1 edge_count]")
    parser.add_argument("--cache", default=None, help="JSONL cache of the judge's answers (read, then appended)")
    parser.add_argument("--batch-size", type=int, default=1, help="prompts per forward pass [1: fastest on CPU]")
    parser.add_argument("--threads", type=int, default=1, help="torch threads [1]")
    parser.add_argument("--out", default=None, help="write the alignment result as JSON here")
    args = parser.parse_args(argv)

    import torch

    from fcmatch.judge.align import align, format_alignment
    from fcmatch.judge.measures import MEASURES

    torch.set_num_threads(args.threads)
    judge = replace(MEASURES[args.judge], cache=args.cache, batch_size=args.batch_size)
    if args.model is not None:
        judge = replace(judge, model=args.model)
    MEASURES[args.judge] = judge
    start = time.perf_counter()
    result = align(args.data, [args.judge, *args.compare])
    seconds = time.perf_counter() - start
    print(format_alignment(result))
    params = result["measures"][args.judge]["params_all"]
    print(f"\njudge {args.judge}: model {params['model']}, max_pairs {params['max_pairs']}, "
          f"position bias (mean p(first)) {params['position_bias']:.3f}")
    print(f"nested selection chose: {sorted(set(result['selection']['chosen'].values()))}")
    print(f"{seconds:.1f} s, torch threads {args.threads}, batch {args.batch_size}")
    if args.out is not None:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
            handle.write("\n")


if __name__ == "__main__":
    main()
