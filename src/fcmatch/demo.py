"""The main job, ``make demo`` (= ``python -m fcmatch.demo``): base vs QLoRA fine-tuned, end to end.

On the embedded SmolLM2-135M-Instruct and the bundled demo data, with nothing downloaded:

1. extract causal maps from the demo test sentences with the base model, zero-shot;
2. fine-tune it with QLoRA on the demo train sentences;
3. extract again with the fine-tuned adapter;
4. score both against the gold maps (exact and embedding node matching, bootstrap CIs);
5. write the HTML report and print its path.

Everything lands in an experiment folder (layout in :mod:`fcmatch.report.experiment`), with the resolved
DemoConfig as its ``config.yaml``. Each stage whose output already exists is skipped, so an interrupted demo
picks up where it stopped.

    python -m fcmatch.demo [--out demo-out] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fcmatch.config import add_arguments, from_args, save_beside
from fcmatch.data.formats import atomic_write, read_maps, write_jsonl
from fcmatch.models import DEFAULT_MODEL
from fcmatch.report.experiment import GOLD, RUN, SYSTEMS, TIMINGS


def _bundled(name: str) -> str:
    return str(resources.files("fcmatch.resources.demo") / name)


@dataclass
class DemoConfig:
    """Settings of the demo; the defaults are the tuned ones (see docs/extraction.md)."""

    out: str = "demo-out"
    """Experiment folder the demo writes (see fcmatch.report.experiment for its layout)."""
    model: str = DEFAULT_MODEL
    """Base model: the embedded default, or a local folder (tests use a tiny random model)."""
    train_file: str = field(default_factory=lambda: _bundled("train.jsonl"))
    """Training sentences (default: the bundled demo train set, 170 sentences)."""
    test_file: str = field(default_factory=lambda: _bundled("test.jsonl"))
    """Test sentences (default: the bundled demo test set, 48 sentences)."""
    max_train: int = 0
    """Use only the first N training sentences (0 = all)."""
    max_test: int = 0
    """Use only the first N test sentences (0 = all)."""
    method: str = "qlora"
    """Fine-tuning method: qlora (4-bit NF4 base + LoRA, the default), lora, or auto = qlora on CUDA and lora on
    CPU (bitsandbytes' CPU path dequantises every 4-bit layer on every pass; see docs/extraction.md)."""
    epochs: float = 1.0
    """Passes over the training sentences."""
    lr: float = 1e-3
    """Peak learning rate; high because the data and the model are small."""
    lora_r: int = 16
    """LoRA rank (alpha = 2 x rank)."""
    max_length: int = 256
    """Longest training example in tokens (the demo's longest is 161)."""
    train_batch_size: int = 8
    """Examples per optimizer step."""
    extract_batch_size: int = 16
    """Sentences per generate call."""
    max_new_tokens: int = 128
    """Token limit per extracted answer."""
    matchers: tuple[str, ...] = ("exact", "embedding")
    """Node matchers the report scores under; the first is the primary one."""
    bertscore: bool = True
    """Include BERTScore among the text metrics."""
    resamples: int = 1000
    """Bootstrap resamples for the confidence intervals."""
    seed: int = 0
    """Training seed."""
    threads: int = 0
    """CPU threads for torch; 0 = auto: 1 when other jobs already load the cores, else all cores."""
    progress: bool = True
    """Progress bars."""

    def quick(self) -> DemoConfig:
        """A few-minute variant: fewer sentences, one epoch, fewer resamples."""
        return dataclasses.replace(self, max_train=self.max_train or 64, max_test=self.max_test or 16,
                                   epochs=min(self.epochs, 2.0), resamples=min(self.resamples, 200), bertscore=False)


def auto_threads(requested: int) -> int:
    """``requested``, or for 0 the thread count that suits the machine's current load.

    With other jobs holding the cores, OpenMP threads that wait on each other spin: on 2 shared cores
    (load average 6) batch-1 decoding took 105 s with 2 threads and 8.5 s with 1 (docs/extraction.md).
    """
    if requested or not hasattr(os, "getloadavg"):
        return requested
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] >= 0.5 * cores else 0


def _header(number: int, title: str) -> None:
    print(f"\n=== [{number}/5] {title} ===", flush=True)


def _write_timings(root: Path, timings: dict[str, float]) -> None:
    with atomic_write(root / TIMINGS) as handle:
        json.dump({k: round(v, 1) for k, v in timings.items()}, handle, indent=1)


def _extract(config: DemoConfig, root: Path, system: str, adapter: str | None) -> dict[str, Any]:
    from fcmatch.extract import ExtractConfig, GenerationSettings, extract

    return extract(ExtractConfig(
        input=str(root / GOLD), output=str(root / SYSTEMS[system]), model=config.model, adapter=adapter,
        batch_size=config.extract_batch_size, generation=GenerationSettings(max_new_tokens=config.max_new_tokens),
        threads=config.threads, progress=config.progress,
    ))


def _train(config: DemoConfig, root: Path) -> Path:
    import torch

    from fcmatch.train import TrainConfig, sft

    run = root / RUN
    if (run / "adapter" / "adapter_config.json").is_file():
        print(f"  {run} already holds a trained adapter; skipping training")
        return run
    train_file = root / "train.jsonl"
    maps = read_maps(config.train_file)
    write_jsonl(maps[: config.max_train] if config.max_train else maps, train_file)
    resume = (run / "config.yaml").is_file()
    method = config.method if config.method != "auto" else ("qlora" if torch.cuda.is_available() else "lora")
    return sft(TrainConfig(
        model=config.model, method=method, train_file=str(train_file), output_dir=str(run),
        epochs=config.epochs, lr=config.lr, lora_r=config.lora_r, lora_alpha=2.0 * config.lora_r,
        max_length=config.max_length, batch_size=config.train_batch_size, seed=config.seed,
        eval_every=0, save_every=20, resume=resume, num_threads=config.threads, progress=config.progress,
    ))


def run_demo(config: DemoConfig) -> Path:
    """Run the whole demo; returns the report's index.html.

    Raises:
        FileNotFoundError, FormatError: missing or malformed train/test files.
        fcmatch.models.ModelError: the model cannot be loaded.
    """
    from fcmatch.report import write_report
    from fcmatch.report.experiment import score_experiment

    start = time.perf_counter()
    config = dataclasses.replace(config, threads=auto_threads(config.threads))
    root = Path(config.out)
    root.mkdir(parents=True, exist_ok=True)
    save_beside(config, root)
    # a resumed demo adds to the seconds its earlier runs spent, so timings.json stays the total work
    timings: dict[str, float] = json.loads((root / TIMINGS).read_text()) if (root / TIMINGS).is_file() else {}
    timings.pop("total", None)
    timings.pop("report", None)  # the report is always rewritten
    spent_before = sum(timings.values())
    test = read_maps(config.test_file)
    test = test[: config.max_test] if config.max_test else test
    if not (root / GOLD).is_file():
        write_jsonl(test, root / GOLD)
    elif [m.text for m in read_maps(root / GOLD)] != [m.text for m in test]:
        raise ValueError(f"{root / GOLD} holds other test sentences; choose another --out or delete the folder")
    threads = config.threads or "all"
    print(f"fcmatch demo: model {config.model}, {len(test)} test sentences, {threads} CPU threads, output in {root}",
          flush=True)

    stages = [
        ("base model, zero-shot extraction", "extract_base", lambda: _extract(config, root, "base", None)),
        (f"fine-tuning ({config.method}, {config.epochs:g} epochs)", "train", lambda: _train(config, root)),
        ("fine-tuned model, extraction", "extract_finetuned", lambda: _extract(config, root, "finetuned", str(root / RUN))),
        ("scoring (bootstrap CIs)", "score", lambda: score_experiment(
            root, config.matchers, bertscore=config.bertscore, resamples=config.resamples)),
    ]
    for number, (title, key, fn) in enumerate(stages, start=1):
        _header(number, title)
        t0 = time.perf_counter()
        result = fn()
        spent, before = time.perf_counter() - t0, timings.get(key)
        timings[key] = (before or 0.0) + spent
        if isinstance(result, dict) and "sentences_per_s" in result:
            print(f"  {result['sentences']} sentences ({result['resumed']} resumed), {result['edges']} edges, "
                  f"{result['with_problems']} with parse problems")
        if key == "score":
            for matcher in config.matchers:
                line = ", ".join(f"{s} macro F1 {result['scores'][s][matcher]['macro']['f1']:.3f}" for s in result["systems"])
                print(f"  {matcher}: {line}")
        earlier = "" if before is None else f" ({timings[key]:.1f} s with the earlier runs)"
        print(f"  done in {spent:.1f} s{earlier}", flush=True)
        _write_timings(root, timings)

    _header(5, "report")
    t0 = time.perf_counter()
    timings["total"] = spent_before + time.perf_counter() - start  # written first so the report shows it
    _write_timings(root, timings)
    index = write_report(root, rescore=False, matchers=config.matchers, bertscore=config.bertscore)
    timings["report"] = time.perf_counter() - t0
    timings["total"] = spent_before + time.perf_counter() - start
    _write_timings(root, timings)
    total = f"{timings['total'] / 60:.1f} min"
    if spent_before:
        total = f"{(time.perf_counter() - start) / 60:.1f} min ({total} with the earlier runs)"
    print(f"  done in {timings['report']:.1f} s; total {total}")
    print(f"\nreport: {index.resolve()}")
    return index


def parse_args(argv: list[str] | None = None) -> DemoConfig:
    """DemoConfig from the command line; every field is a flag (``--max-test 8``), its docstring the help.

    Raises:
        fcmatch.config.ConfigError: a value that fails the field's checks, naming the flag.
    """
    parser = argparse.ArgumentParser(prog="python -m fcmatch.demo", description=__doc__.splitlines()[0])
    add_arguments(parser, DemoConfig)
    parser.add_argument("--quick", action="store_true", help="a few-minute variant (64 train / 16 test sentences)")
    args = parser.parse_args(argv)
    config = from_args(DemoConfig, args)
    return config.quick() if args.quick else config


def main(argv: list[str] | None = None) -> int:
    try:
        run_demo(parse_args(argv))
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"fcmatch demo: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
