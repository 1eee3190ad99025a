"""Pattern-based fine-tuning (PBFT): cross-entropy of the verbalizer token at the answer position.

Runs through fcmatch's training engine (:func:`fcmatch.train.sft`) with the ``classify`` task: each of the k
examples is the zero-shot query rendered with the pattern, and its completion is the label's verbalizer with
no eos after it, so the loss is on that one token (:func:`fcmatch.fewshot.patterns.training_example`).
Methods ``pbft-lora``, ``pbft-full`` and ``pbft-bitfit`` are the engine's ``lora``, ``full`` and ``bitfit``;
bitfit on a model without bias terms (the embedded SmolLM2) is the engine's ConfigError, which names the fix.

Checkpoint selection (``selection``): ``last`` keeps the final weights; ``dev`` keeps the step with the lowest
cross-entropy on a balanced dev set of size k drawn from the training pool, disjoint from the k examples
(:func:`fcmatch.fewshot.data.draw_train_dev`), evaluated every ``eval_every`` steps. The test sets never
take part.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcmatch.config import ConfigError
from fcmatch.fewshot.data import ClassRecord
from fcmatch.fewshot.patterns import Pattern, label_tokens, training_example

METHODS = {"pbft-lora": "lora", "pbft-full": "full", "pbft-bitfit": "bitfit"}
SELECTIONS = ("last", "dev")


@dataclass
class PBFTConfig:
    """The fine-tuning schedule of every PBFT run of a grid (the ``pbft:`` block of a grid config)."""

    epochs: float = 30.0
    """Passes over the k examples (the reference study: tens of epochs)."""
    lr: float = 1e-3
    """Peak AdamW learning rate of pbft-lora and pbft-bitfit."""
    full_lr: float = 1e-5
    """Peak learning rate of pbft-full."""
    warmup_ratio: float = 0.1
    """Fraction of steps warming up linearly."""
    batch_size: int = 8
    """Examples per optimizer step."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: float = 16.0
    """LoRA alpha (scale alpha / r)."""
    selection: str = "last"
    """Checkpoint: last, or dev (lowest loss on a dev set of size k, never the test set)."""
    eval_every: int = 10
    """Dev evaluations every N steps with selection dev."""
    keep_weights: bool = False
    """Keep each run's exported model/adapter after scoring (full models are ~540 MB)."""
    num_threads: int = 1
    """CPU threads for training (0 = engine default)."""

    def validate(self) -> PBFTConfig:
        """Raises ConfigError naming the field."""
        if self.selection not in SELECTIONS:
            raise ConfigError(f"pbft.selection={self.selection!r}: choose one of {', '.join(SELECTIONS)}")
        for key in ("epochs", "lr", "full_lr", "batch_size", "lora_r"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"pbft.{key}={getattr(self, key)} must be > 0")
        return self


def write_examples(path: Path, pattern: Pattern, records: Sequence[ClassRecord], tokenizer: Any) -> Path:
    """The records as rendered ``{"prompt", "completion"}`` JSONL lines (the classify task's input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for r in records:
        example = training_example(pattern, r, tokenizer)
        lines.append(json.dumps({"prompt": example["prompt"], "completion": example["completion"]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def exported(run: Path) -> bool:
    """True when the engine finished and exported ``run``'s weights."""
    return (run / "manifest.json").is_file() and any((run / d).is_dir() for d in ("adapter", "model"))


def train_pbft(model: str, tokenizer: Any, pattern: Pattern, train: Sequence[ClassRecord], dev: Sequence[ClassRecord],
               method: str, seed: int, run: Path, config: PBFTConfig, progress: bool = False) -> Path:
    """Fine-tune ``model`` on ``train`` with the pattern; returns the run folder (load it with fcmatch.models.load).

    A run folder left half-written by an interrupted run is removed and the run starts again.

    Raises:
        ConfigError: an unknown method, or pbft-bitfit on a model without biases.
        PatternError: a verbalizer that is not one token.
    """
    from fcmatch.train import sft
    from fcmatch.train.config import TrainConfig

    if method not in METHODS:
        raise ConfigError(f"method={method!r}: PBFT methods are {', '.join(METHODS)}")
    label_tokens(pattern, tokenizer)  # fail before training on a verbalizer that is not one token
    if config.selection == "dev" and not dev:
        raise ConfigError("pbft.selection=dev: the training pool has no records left for a dev set of size k")
    if exported(run):
        return run
    if run.exists():
        shutil.rmtree(run)
    train_file = write_examples(run.parent / f"{run.name}-data" / "train.jsonl", pattern, train, tokenizer)
    dev_file = write_examples(train_file.parent / "dev.jsonl", pattern, dev, tokenizer) if config.selection == "dev" else None
    engine = TrainConfig(
        task="classify", model=model, method=METHODS[method], train_file=str(train_file),
        val_file=str(dev_file or ""), output_dir=str(run), epochs=config.epochs, batch_size=config.batch_size,
        lr=config.full_lr if method == "pbft-full" else config.lr, warmup_ratio=config.warmup_ratio,
        schedule="linear", seed=seed, lora_r=config.lora_r, lora_alpha=config.lora_alpha, max_length=8192,
        eval_every=config.eval_every, save_every=0, log_every=5, num_threads=config.num_threads, progress=progress,
        packing=True,
    )
    return sft(engine)


def drop_weights(run: Path) -> None:
    """Remove a run's exported weights and best/ (metrics.jsonl, manifest.json and config.yaml stay)."""
    for name in ("adapter", "model", "best", "checkpoints"):
        shutil.rmtree(run / name, ignore_errors=True)
