"""Context distillation on the causal task: the k-shot retrieval prompt distilled into a zero-shot student.

    OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python benchmarks/distill_causal.py --out runs/distill-causal \
        [--train 64 --val 32 --k 2 --epochs 2 --max-new-tokens 96]

Systems, all SmolLM2-135M-Instruct, greedy decoding, scored on the same val sentences:

- ``zero-shot``: the untuned model with the plain extraction prompt;
- ``k-shot``: the untuned model with the ``causal-rag`` prompt (the k most similar training sentences and
  their coded edges in the user turn; the teacher);
- ``distilled``: LoRA student trained by :func:`fcmatch.train.distill.distill` on the teacher's own greedy
  answers to ``--train`` training sentences (token-level KL, teacher with the k-shot prompt, student with the
  plain one), then prompted zero-shot;
- ``fine-tuned``: LoRA trained by ``fcmatch.train.sft`` (task ``causal``) on the gold edges of the same training
  sentences, same steps, batch, rank and learning rate, prompted zero-shot.

Per system: exact and embedding (MiniLM cosine >= 0.7, one-to-one) edge F1, micro and macro; mean prompt
tokens and seconds per sentence (wall time of the batched greedy decode / sentences). Writes
``OUT/results.json``, ``OUT/results.md`` and ``OUT/pred_<system>.jsonl``; a system whose predictions exist is
not decoded again (delete its file to redo it).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path
from typing import Any

import torch

from fcmatch.data.formats import read_maps, write_jsonl
from fcmatch.evaluate.graph import evaluate_maps
from fcmatch.extract.config import GenerationSettings
from fcmatch.extract.generation import chat_prompt, generate_texts
from fcmatch.extract.pipeline import prediction
from fcmatch.extract.retrieval import Retriever
from fcmatch.models import load
from fcmatch.tasks.causal import prompt_messages
from fcmatch.train.distill import DistillConfig, distill

DATA = Path("../shared/data/causal")
SYSTEMS = ("zero-shot", "k-shot", "distilled", "fine-tuned")


def decode(model: Any, tok: Any, maps: list, prompts: list[str], name: str, out: Path, max_new: int) -> dict[str, float]:
    """Greedy predictions of one system, written to ``out/pred_<name>.jsonl``; returns cost figures."""
    path = out / f"pred_{name}.jsonl"
    tokens = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    cost_path = out / f"cost_{name}.json"
    if path.exists() and cost_path.exists():
        return json.loads(cost_path.read_text())
    model.eval()
    texts: dict[int, str] = {}
    start = time.perf_counter()
    for chunk in generate_texts(model, tok, prompts, GenerationSettings(max_new_tokens=max_new), batch_size=16):
        texts.update(chunk)
    seconds = time.perf_counter() - start
    write_jsonl([prediction(m, texts[i], name, i) for i, m in enumerate(maps)], path)
    cost = {"prompt_tokens": sum(tokens) / len(tokens), "seconds_per_sentence": seconds / len(maps)}
    cost_path.write_text(json.dumps(cost))
    return cost


def score(gold: list, path: Path) -> dict[str, Any]:
    pred = read_maps(path)
    out = {}
    for matcher in ("exact", "embedding"):
        r = evaluate_maps(gold, pred, matcher)
        out[matcher] = {"micro_f1": r["micro"]["f1"], "macro_f1": r["macro"]["f1"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/distill-causal")
    parser.add_argument("--train", type=int, default=64, help="training sentences (distillation and fine-tuning)")
    parser.add_argument("--val", type=int, default=32, help="val sentences scored")
    parser.add_argument("--k", type=int, default=2, help="retrieved demonstrations in the teacher prompt")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pool = read_maps(DATA / "train_data.csv")
    train = random.Random(args.seed).sample(pool, args.train)
    val = read_maps(DATA / "val_data.csv")[: args.val]
    retriever = Retriever(pool, args.k)
    model, tok = load("smollm2-135m-instruct")
    plain = [chat_prompt(tok, prompt_messages(m)) for m in val]
    kshot = [chat_prompt(tok, prompt_messages(m, retrieved=n)) for m, n in zip(val, retriever.neighbours([m.text for m in val]), strict=True)]
    cost = {"zero-shot": decode(model, tok, val, plain, "zero-shot", out, args.max_new_tokens),
            "k-shot": decode(model, tok, val, kshot, "k-shot", out, args.max_new_tokens)}
    train_time: dict[str, float] = {}

    if not (out / "pred_distilled.jsonl").exists():
        examples = [{"teacher_prompt": chat_prompt(tok, prompt_messages(m, retrieved=n)),
                     "student_prompt": chat_prompt(tok, prompt_messages(m)), "completion": ""}
                    for m, n in zip(train, retriever.neighbours([m.text for m in train]), strict=True)]
        config = DistillConfig(positions="all", answers="greedy", max_new_tokens=args.max_new_tokens, top_k=64,
                               cache_dir=str(out / "teacher-cache"), epochs=args.epochs, batch_size=args.batch_size,
                               learning_rate=args.lr, lora_r=16, seed=args.seed, output_dir=str(out / "distilled"))
        start = time.perf_counter()
        student, _ = distill(model, tok, examples, config)
        train_time["distilled"] = time.perf_counter() - start
        cost["distilled"] = decode(student, tok, val, plain, "distilled", out, args.max_new_tokens)
        del student
    else:
        cost["distilled"] = json.loads((out / "cost_distilled.json").read_text())

    if not (out / "pred_fine-tuned.jsonl").exists():
        from fcmatch.train import TrainConfig, sft

        write_jsonl(train, out / "train_sample.jsonl")
        steps = args.epochs * -(-args.train // args.batch_size)
        config = TrainConfig(task="causal", train_file=str(out / "train_sample.jsonl"), output_dir=str(out / "fine-tuned"),
                             max_steps=steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=max(1, steps // 10),
                             lora_r=16, eval_every=0, save_every=0, seed=args.seed, num_threads=1)
        start = time.perf_counter()
        run = sft(config)
        train_time["fine-tuned"] = time.perf_counter() - start
        tuned, _ = load(str(run))
        cost["fine-tuned"] = decode(tuned, tok, val, plain, "fine-tuned", out, args.max_new_tokens)
    else:
        cost["fine-tuned"] = json.loads((out / "cost_fine-tuned.json").read_text())

    results = {name: {**score(val, out / f"pred_{name}.jsonl"), **cost[name]} for name in SYSTEMS}
    meta = {"args": vars(args), "train_seconds": train_time, "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (out / "results.json").write_text(json.dumps({"results": results, "meta": meta}, indent=2))
    lines = ["| system | exact micro F1 | exact macro F1 | embedding micro F1 | embedding macro F1 | prompt tokens | s / sentence |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['exact']['micro_f1']:.3f} | {r['exact']['macro_f1']:.3f} | "
                     f"{r['embedding']['micro_f1']:.3f} | {r['embedding']['macro_f1']:.3f} | "
                     f"{r['prompt_tokens']:.0f} | {r['seconds_per_sentence']:.2f} |")
    text = "\n".join(lines) + f"\n\n{json.dumps(meta)}\n"
    (out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
