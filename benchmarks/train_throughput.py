"""Training throughput: fcmatch LoRA / QLoRA against TRL's SFTTrainer on the same data, model, LoRA and steps.

Run:  .venv/bin/python benchmarks/train_throughput.py [--steps 6 | --epochs 1] [--quick] [--json]

Each configuration runs in its own subprocess, so its peak RSS is its own. All use SmolLM2-135M-Instruct,
LoRA r=16 / alpha 32 / dropout 0.05 on all linear layers, batches of 8 examples, the same number of
optimizer steps, the causal train split in ../shared (else the bundled demo data):

- fcmatch: packed rows (no padding), the fused completion-only LM head + cross-entropy, fp32 (the CPU default),
  and the CPU fast paths of ``fcmatch.train.fastlora`` (dropout positions drawn as geometric gaps, each LoRA
  layer one autograd function; same dropout law and LoRA maths as peft).
- fcmatch QLoRA: the same on a 4-bit NF4 base (bitsandbytes' CPU kernels; the same fused layer, the base
  dequantised again in backward).
- TRL fp32: SFTTrainer + peft as a careful user sets it on a CPU: bf16=False, prompt/completion
  conversational records (completion-only loss), rows padded to the longest in the batch.
- TRL defaults: SFTTrainer with its default SFTConfig (bf16=True, gradient checkpointing), few steps.
- fcmatch bf16 (only on CPUs that run bf16 matmuls natively and fast, e.g. with AMX): fcmatch LoRA with
  ``dtype=bfloat16`` (peft's own layers: the fast paths are fp32), its MFU against a bf16 matmul probe.

fcmatch and fcmatch QLoRA train in fp32 (``dtype=float32``, what ``auto`` picks on a CPU), so MFU is measured
against the fp32 probe and the comparison with TRL fp32 is like for like. Every configuration runs with the
same environment, including ``THP_MEM_ALLOC_ENABLE`` (transparent huge pages for torch's large CPU tensors;
``import fcmatch`` turns it on, so the TRL processes get it too unless it is set to 0 outside). The fcmatch
configurations run on fcmatch's malloc-backed CPU allocator, which ``sft`` installs (``fcmatch.train.memory``;
``FCMATCH_ALLOCATOR=0`` keeps torch's); the TRL ones on torch's.

``--lora-dropout 0`` runs every configuration without LoRA dropout (all of them get faster).

Every configuration runs on the CPU, GPUs hidden (``CUDA_VISIBLE_DEVICES=""``): a CPU benchmark, like for like.

Tokens/s counts real (non-padding) tokens of the examples trained on, divided by the time spent in the
training steps (model loading excluded for every configuration).

MFU (model FLOPs utilisation) = useful FLOP/s / the fp32 matmul FLOP/s measured here on the spot, with
useful FLOPs of LoRA training on a frozen base, per trained token: 2N forward + 2N backward through the
activations (no weight gradients for the frozen N body parameters), plus 6P for the P LoRA parameters
(forward, activation and weight gradients: 6*r*(in+out) per adapted layer, 4.9M parameters and 7% of
the body's 4N at r=16 on all linear layers), plus 4*V*H for the LM head on completion tokens only, plus
causal attention 6*L*H*n per token for an example of n tokens (forward QK^T and AV = 4*H*n/2 per layer,
backward twice that), minus the input gradient of the first layer's q, k and v projections and their adapters,
which read the frozen embeddings and so are never computed (0.2% of the total). ``mfu`` is over all timed steps;
``mfu_median_step`` is the median of the steps' own MFUs (a step that first meets a longer row also faults fresh
memory in, so short runs sit below the median). ``mfu_4n`` uses the issue's rule of thumb instead, 4N per trained token with N all 134.5M parameters of the model (the tied
embedding / LM head counted once): it credits the LM head on every token, which fcmatch skips on prompt tokens, and
ignores attention and the adapters; it reads about 10% above ``mfu``. The probe is the best 0.6 s window of 1,024 x
1,024 fp32 matmuls on torch's default threads, over five windows at the end and two just before and two just after
each fcmatch run (in its process): the machine's attainable matmul rate around the run, not an average that a noisy
neighbour drags down.

``--paired-probes`` also times a 0.25 s window of the same matmuls right after each fcmatch step (a metric sink on
the loop's public ``report_to`` hook, outside the step's time) and reports ``mfu_paired``: the run's useful FLOPs
over the sum of each step's seconds times the rate of the window after it. On a host whose speed drifts within a
run, that pairs each step with what the machine delivered at that moment, where ``mfu`` takes the fastest window
of the run for every step.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_TRAIN = ROOT.parent / "shared" / "data" / "causal" / "train_data.csv"
DEMO_TRAIN = ROOT / "src" / "fcmatch" / "resources" / "demo" / "train.jsonl"
LORA = {"r": 16, "alpha": 32, "dropout": 0.05}  # dropout: --lora-dropout
BATCH = 8
CONFIGS = ("fcmatch", "fcmatch_qlora", "trl_fp32", "trl_default", "fcmatch_bf16")


def data_file() -> Path:
    return SHARED_TRAIN if SHARED_TRAIN.is_file() else DEMO_TRAIN


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(window: float = 0.6, windows: int = 5, size: int = 1024, dtype: str = "float32") -> float:
    """Matmul throughput of this machine with torch's default threads: the best of ``windows`` timed windows."""
    import torch

    a, b = (torch.randn(size, size, dtype=getattr(torch, dtype)) for _ in range(2))
    for _ in range(3):
        a @ b
    return max(_window_gflops(lambda: a @ b, 2 * size**3, window) for _ in range(windows))


def _window_gflops(matmul, flops: int, window: float) -> float:
    """GFLOP/s of ``matmul()`` (``flops`` each), repeated for ``window`` seconds."""
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < window:
        matmul()
        count += 1
    return flops * count / (time.perf_counter() - start) / 1e9


class StepProbe:
    """A metric sink (``fcmatch.train.reporting``) that times one short window of 1,024^3 fp32 matmuls each time the
    loop logs a step: after the step's own time is taken and before the next step starts, so it is not in the
    step's time. Its tensors are made once, so it leaves the allocator as it was."""

    def __init__(self, window: float = 0.25, size: int = 1024) -> None:
        import torch

        self.window, self.gflops = window, []
        a, b, out = (torch.randn(size, size) for _ in range(3))
        self.matmul, self.flops = (lambda: torch.mm(a, b, out=out)), 2 * size**3

    def __call__(self, run, config) -> StepProbe:  # the backend factory: this same object is the sink
        return self

    def log(self, step: int, metrics: dict) -> None:
        self.gflops.append(_window_gflops(self.matmul, self.flops, self.window))

    def close(self) -> None:
        pass


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def fast_bf16() -> bool:
    from fcmatch.models import cpu_bf16_is_fast

    return cpu_bf16_is_fast()


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform

        return platform.processor() or platform.machine()


def run_fcmatch(steps: int, method: str, dtype: str = "float32", paired: bool = False) -> dict:
    from fcmatch.train import TrainConfig, reporting, sft

    probes = [matmul_gflops(windows=2, dtype=dtype)]
    step_probe = StepProbe() if paired else None
    if step_probe is not None:
        reporting.BACKENDS["step_probe"] = step_probe
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(model="smollm2-135m-instruct", method=method, train_file=str(data_file()),
                             output_dir=str(Path(tmp) / "run"), max_steps=steps, batch_size=BATCH, lora_r=LORA["r"],
                             lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"], save_every=0, progress=False,
                             log_every=1, dtype=dtype, report_to=["step_probe"] if paired else [])
        run = sft(config)
        manifest = json.loads((run / "manifest.json").read_text())
        lines = (run / "metrics.jsonl").read_text().splitlines()
    step_rates = [row["tokens_per_s"] for row in map(json.loads, lines) if "tokens_per_s" in row]
    probes.append(matmul_gflops(windows=2, dtype=dtype))
    return {"probe_gflops": probes, "tokens_per_s": manifest["tokens_per_s"], "tokens": manifest["tokens_trained"],
            "seconds": manifest["train_seconds"], "peak_rss_mb": peak_rss_mb(), "step_tokens_per_s": step_rates,
            "cpu_allocator": manifest.get("cpu_allocator"),
            "step_probe_gflops": step_probe.gflops if step_probe is not None else None}


def epoch_steps(epochs: float) -> int:
    """Optimizer steps of ``epochs`` passes over the benchmark's data in whole batches of ``BATCH`` examples."""
    from fcmatch.train.data import load_conversations

    return max(1, int(epochs * len(load_conversations(data_file(), "causal")) // BATCH))


def _trl_dataset():
    from datasets import Dataset

    from fcmatch.train.data import load_conversations

    rows = [{"prompt": m[:-1], "completion": m[-1:]} for m in load_conversations(data_file(), "causal")]
    return Dataset.from_list(rows)


def run_trl(steps: int, careful: bool) -> dict:
    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from fcmatch.models import load

    model, tokenizer = load("smollm2-135m-instruct", dtype=torch.float32, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        common = dict(output_dir=tmp, max_steps=steps, per_device_train_batch_size=BATCH, save_strategy="no",
                      report_to=[], logging_steps=1, use_cpu=True)
        args = (SFTConfig(**common, bf16=False, fp16=False, learning_rate=2e-4, gradient_checkpointing=False,
                          dataloader_num_workers=0) if careful else SFTConfig(**common))
        peft_config = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                                 target_modules="all-linear", task_type="CAUSAL_LM")
        trainer = SFTTrainer(model=model, args=args, train_dataset=_trl_dataset(), processing_class=tokenizer,
                             peft_config=peft_config)
        counts: list[int] = []
        collate = trainer.data_collator

        def counting(batch):
            out = collate(batch)
            mask = out.get("attention_mask")
            counts.append(int(mask.sum()) if mask is not None else int(out["input_ids"].numel()))
            return out

        trainer.data_collator = counting
        # train() builds its dataloader from self.data_collator, so this wrapper sees every batch
        result = trainer.train()
    tokens = sum(counts[:steps])  # the loader may fetch one batch ahead
    seconds = result.metrics["train_runtime"]
    return {"tokens_per_s": tokens / seconds, "tokens": tokens, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


@functools.cache
def model_shape() -> tuple[int, int, int, int, int]:
    """(hidden, intermediate, layers, vocab, key/value width) of SmolLM2-135M, from its config."""
    from fcmatch.models import resolve

    config = json.loads((Path(resolve("smollm2-135m-instruct")) / "config.json").read_text())
    h = config["hidden_size"]
    kv = h // config["num_attention_heads"] * config["num_key_value_heads"]
    return h, config["intermediate_size"], config["num_hidden_layers"], config["vocab_size"], kv


def parameter_count() -> int:
    """N of SmolLM2-135M: embedding (tied with the LM head), per layer q, k, v, o, gate, up, down and two norms, and
    the final norm."""
    h, m, layers, vocab, kv = model_shape()
    return vocab * h + layers * (2 * h * h + 2 * h * kv + 3 * h * m + 2 * h) + h


@functools.cache  # the same replay serves the LoRA and the bf16 runs
def step_work(steps: int) -> list[tuple[int, float]]:
    """(real tokens, useful FLOPs) of each of the first ``steps`` fcmatch steps, replaying its data order.

    FLOPs as in the module docstring.
    """
    from fcmatch.models import load_tokenizer
    from fcmatch.train.data import load_conversations, step_examples, tokenize_all

    h, m, layers, vocab, kv = model_shape()
    body = layers * (2 * h * h + 2 * h * kv + 3 * h * m)
    # q, o: h -> h; k, v: h -> kv; gate, up: h -> m; down: m -> h
    lora = layers * LORA["r"] * (2 * (h + h) + 2 * (h + kv) + 3 * (h + m))
    # the first layer's q, k and v take the embeddings, which are frozen: no input gradient is made there
    unneeded = 2 * (h * h + 2 * h * kv) + 2 * LORA["r"] * 3 * h
    examples = tokenize_all(load_tokenizer(), load_conversations(data_file(), "causal"), 1024)
    work = []
    for step in range(steps):
        tokens, flops = 0, 0.0
        for i in step_examples(len(examples), BATCH, 0, step):
            n, c = len(examples[i].input_ids), examples[i].loss_tokens
            tokens += n
            flops += (4 * body + 6 * lora - unneeded) * n + 4 * vocab * h * c + 6 * layers * h * n * n
        work.append((tokens, flops))
    return work


def worker(name: str, steps: int, paired: bool = False) -> dict:
    if name == "fcmatch":
        return run_fcmatch(steps, "lora", paired=paired)
    if name == "fcmatch_qlora":
        return run_fcmatch(steps, "qlora")
    if name == "fcmatch_bf16":
        return run_fcmatch(steps, "lora", "bfloat16")
    return run_trl(steps, careful=(name == "trl_fp32"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per configuration (8 examples each)")
    parser.add_argument("--epochs", type=float, help="instead of --steps: this many passes over the data in whole "
                        "batches of 8 (1 on the causal train split: 187 steps)")
    parser.add_argument("--default-steps", type=int, default=2, help="steps for TRL with its defaults (slow)")
    parser.add_argument("--quick", action="store_true", help="3 steps, TRL defaults 1 step, short matmul probe")
    parser.add_argument("--only", nargs="+", choices=CONFIGS, help="configurations to run (default: all; "
                        "fcmatch_bf16 only on a CPU with fast bf16)")
    parser.add_argument("--lora-dropout", type=float, default=LORA["dropout"], help="LoRA dropout of every configuration")
    parser.add_argument("--paired-probes", action="store_true",
                        help="also time a 0.25 s matmul window after each fcmatch step and report mfu_paired")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.default_steps = 3, 1
    elif args.epochs:
        args.steps = epoch_steps(args.epochs)
    LORA["dropout"] = args.lora_dropout
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.steps, args.paired_probes)), flush=True)
        return 0

    bf16 = fast_bf16()
    only = args.only or [name for name in CONFIGS if name != "fcmatch_bf16" or bf16]
    # CUDA_VISIBLE_DEVICES: every configuration on the CPU, where this benchmark compares them; with a GPU visible,
    # fcmatch would train there while TRL's use_cpu keeps TRL here
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": "",
           "THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE", "1")}
    results: dict[str, dict] = {}
    for name in only:
        steps = args.default_steps if name == "trl_default" else args.steps
        cmd = [sys.executable, __file__, "--worker", name, "--steps", str(steps), "--lora-dropout", str(args.lora_dropout)]
        cmd += ["--paired-probes"] if args.paired_probes else []
        print(f"[{name}] {steps} steps ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            print(f"[{name}] failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        results[name] = {**json.loads(line[7:]), "steps": steps}
        print(f"[{name}] {results[name]}", file=sys.stderr, flush=True)

    windows = 2 if args.quick else 5
    # the fastest of this probe and those taken just before and after each fcmatch run, in its own process
    probes = {dtype: [matmul_gflops(windows=windows, dtype=dtype)] if dtype == "float32" or bf16 else []
              for dtype in ("float32", "bfloat16")}
    for name, result in results.items():
        if name.startswith("fcmatch"):
            probes["bfloat16" if name == "fcmatch_bf16" else "float32"] += result["probe_gflops"]
    gflops = max(probes["float32"])
    summary: dict[str, float | str | None] = {
        "matmul_gflops": gflops, "data": str(data_file()), "batch": BATCH, "lora_dropout": args.lora_dropout,
        "cpu": cpu_name(), "threads": _threads(), "huge_pages": env["THP_MEM_ALLOC_ENABLE"],
        "matmul_probes": probes["float32"], "matmul_bf16_gflops": max(probes["bfloat16"], default=None),
        "fcmatch_cpu_allocator": results.get("fcmatch", {}).get("cpu_allocator")}
    for name in CONFIGS:
        summary[f"{name}_tokens_per_s"] = results.get(name, {}).get("tokens_per_s")
        summary[f"{name}_peak_rss_mb"] = results.get(name, {}).get("peak_rss_mb")
    summary["mfu"] = summary["mfu_median_step"] = summary["mfu_4n"] = summary["mfu_paired"] = None
    if "fcmatch" in results:
        fc = results["fcmatch"]
        work = step_work(fc["steps"])
        summary["mfu"] = sum(f for _, f in work) / fc["seconds"] / (gflops * 1e9)
        summary["mfu_4n"] = 4 * parameter_count() * fc["tokens_per_s"] / (gflops * 1e9)
        if len(fc["step_tokens_per_s"]) == len(work):  # each step's seconds = its tokens / its tokens/s
            rates = fc["step_tokens_per_s"]
            per_step = [f * rate / tokens / (gflops * 1e9) for (tokens, f), rate in zip(work, rates, strict=True)]
            summary["mfu_median_step"] = statistics.median(per_step)
            paired = fc.get("step_probe_gflops") or []
            if len(paired) == len(work):  # each step against the window timed right after it
                step_seconds = [tokens / rate for (tokens, _), rate in zip(work, rates, strict=True)]
                summary["mfu_paired"] = sum(f for _, f in work) / sum(
                    t * g * 1e9 for t, g in zip(step_seconds, paired, strict=True))
                summary["step_probes"] = [round(g) for g in paired]
    summary["mfu_bf16"] = None
    if "fcmatch_bf16" in results and summary["matmul_bf16_gflops"]:
        fb = results["fcmatch_bf16"]
        summary["mfu_bf16"] = sum(f for _, f in step_work(fb["steps"])) / fb["seconds"] / (summary["matmul_bf16_gflops"] * 1e9)
    f, t = summary["fcmatch_tokens_per_s"], summary["trl_fp32_tokens_per_s"]
    summary["speedup_vs_trl_fp32"] = f / t if f and t else None
    fr, tr = summary["fcmatch_peak_rss_mb"], summary["trl_fp32_peak_rss_mb"]
    summary["rss_ratio_vs_trl_fp32"] = fr / tr if fr and tr else None
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"cpu: {summary['cpu']} ({summary['threads']} threads)   THP_MEM_ALLOC_ENABLE={summary['huge_pages']}   "
          f"fcmatch's CPU allocator: {summary['fcmatch_cpu_allocator']}")
    bf16_probe = f"   bf16 matmul: {summary['matmul_bf16_gflops']:.1f} GFLOP/s" if bf16 else ""
    print(f"data: {summary['data']}   batch {BATCH} examples   LoRA dropout {args.lora_dropout}   "
          f"fp32 matmul: {gflops:.1f} GFLOP/s{bf16_probe}")
    print("fp32 matmul probes (end, then before/after each fcmatch run): "
          + ", ".join(f"{g:.0f}" for g in probes["float32"]))
    print(f"{'configuration':<16}{'steps':>6}{'tokens/s':>10}{'peak RSS MB':>13}")
    for name, r in results.items():
        print(f"{name:<16}{r['steps']:>6}{r['tokens_per_s']:>10.1f}{r['peak_rss_mb']:>13.0f}")
    if summary.get("step_probes"):
        print("fp32 matmul window after each fcmatch step: " + ", ".join(map(str, summary["step_probes"])))
    for key in ("mfu", "mfu_median_step", "mfu_4n", "mfu_paired", "mfu_bf16", "speedup_vs_trl_fp32",
                "rss_ratio_vs_trl_fp32"):
        if summary[key] is not None:
            print(f"{key}: {summary[key]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
