"""Context distillation: train a LoRA student without the context to match the frozen teacher with it.

Minimises ``T^2 * KL(p_teacher(y | context, x) || p_student(y | x))`` (Askell et al. 2021; Snell et al. 2022).
The teacher is the base model with the context (k demonstrations, a long instruction) in its prompt; the
student is the same base with LoRA adapters and the short prompt. With peft the teacher is the student with
its adapters disabled, so one model copy serves both. Usable for any task:

- classification: ``positions="first"``, the KL at the answer position over the vocabulary (``over="vocab"``)
  or over the verbalizer tokens (``over="labels"``, ``label_tokens``);
- generation: ``positions="all"``, the token-level KL along an answer: the example's own ``completion``
  (``answers="given"``) or the teacher's greedy or sampled answer, generated first with fcmatch's decoder
  (``answers="greedy"`` / ``"sample"``).

The teacher's logits are computed on the fly or, with ``cache_dir``, once and kept on disk (restricted to the
label tokens or the teacher's ``top_k`` so the cache stays small; see :mod:`fcmatch.train.distill_teacher`).
``docs/distillation.md`` is the user's page; ``benchmarks/distill_causal.py`` shows it on the causal task.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from fcmatch.config import ConfigError, check, save_beside, setting
from fcmatch.models import quiet_peft
from fcmatch.train.distill_teacher import Encoded, TeacherTargets, encode, kl_loss, logits_at

__all__ = ["DistillConfig", "distill", "distill_kl", "teacher_answers"]


@dataclass
class DistillConfig:
    """Context distillation of a teacher prompt into a LoRA student (see docs/distillation.md)."""

    temperature: float = setting(1.0, minimum=1e-3)
    """Softmax temperature T of both distributions; the loss is scaled by T^2."""
    over: str = setting("vocab", choices=("vocab", "labels"))
    """KL over the whole vocabulary (or the teacher's top_k tokens) or over label_tokens only."""
    label_tokens: list[int] = field(default_factory=list)
    """Token ids of the verbalizers (over=labels): the KL is over these, both sides renormalised."""
    top_k: int = setting(0, minimum=0)
    """over=vocab: keep the teacher's k most likely tokens per position (0 = the full vocabulary; a disk cache
    of the full vocabulary holds 49k floats per position for SmolLM2, so set it with cache_dir)."""
    positions: str = setting("first", choices=("first", "all"))
    """first: the answer position only (classification); all: every completion token (generation)."""
    answers: str = setting("given", choices=("given", "greedy", "sample"))
    """positions=all: distil along each example's completion (given) or the teacher's own greedy/sampled answer."""
    max_new_tokens: int = setting(128, minimum=1)
    """Token limit of a generated teacher answer."""
    sample_temperature: float = setting(0.7, minimum=1e-3)
    """answers=sample: the sampling temperature of the teacher's answers."""
    lora_r: int = setting(16, minimum=1)
    """LoRA rank of the student."""
    lora_alpha: float = 32.0
    """LoRA scaling numerator (scale = alpha / r)."""
    target_modules: str | list[str] = "all-linear"
    """Layers that get adapters: 'all-linear' or module names such as [q_proj, v_proj]."""
    learning_rate: float = setting(1e-3, minimum=0)
    """Peak AdamW learning rate (linear warmup, then constant)."""
    warmup_ratio: float = 0.1
    """Fraction of the steps spent warming up from 0."""
    epochs: int = setting(3, minimum=1)
    """Passes over the examples."""
    batch_size: int = setting(8, minimum=1)
    """Examples per optimizer step (one padded forward per side)."""
    max_grad_norm: float = setting(1.0, minimum=0)
    """Clip the gradient norm to this (0 = no clipping)."""
    seed: int = 0
    """Seed of the adapter init, the example order and the sampled teacher answers."""
    cache_dir: str = ""
    """Folder for the teacher's logits, computed once and keyed by a hash of model + prompt (empty = on the fly)."""
    output_dir: str = ""
    """Where to save adapter/, config.yaml and metrics.jsonl (empty = nothing written)."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        """Raises ConfigError for contradictory settings, naming the field."""
        if self.over == "labels" and not self.label_tokens:
            raise ConfigError("over=labels needs label_tokens (the verbalizers' token ids)")
        if self.over == "labels" and self.positions == "all":
            raise ConfigError("over=labels scores the answer position only; use positions=first")
        if self.over == "vocab" and self.label_tokens:
            raise ConfigError("label_tokens is set but over=vocab ignores it; set over=labels")
        if self.answers != "given" and self.positions != "all":
            raise ConfigError(f"answers={self.answers} generates teacher answers to distil along; use positions=all")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1)")


def _as_student(model: Any, config: DistillConfig) -> Any:
    """The model with fresh LoRA adapters (only they train), or as given when it already is a peft model."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if isinstance(model, PeftModel):
        return model
    for param in model.parameters():
        param.requires_grad_(False)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                      target_modules=config.target_modules, bias="none", task_type="CAUSAL_LM")
    with quiet_peft():
        return get_peft_model(model, lora)


def _disabled(model: Any) -> Any:
    """Context manager of the teacher forward: adapters off (a plain model is its own teacher)."""
    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


def teacher_answers(model: Any, tokenizer: Any, examples: Sequence[dict[str, str]], config: DistillConfig
                    ) -> list[dict[str, str]]:
    """The examples with ``completion`` replaced by the teacher's own answer (greedy or sampled).

    Decodes with :func:`fcmatch.extract.generation.generate_texts` (fcmatch's batched greedy loop, or
    ``generate`` for sampling) on the teacher prompts, adapters disabled when ``model`` has them.
    """
    from fcmatch.extract.config import GenerationSettings
    from fcmatch.extract.generation import generate_texts

    settings = GenerationSettings(max_new_tokens=config.max_new_tokens, seed=config.seed,
                                  temperature=config.sample_temperature if config.answers == "sample" else 0.0)
    prompts = [e["teacher_prompt"] for e in examples]
    texts: dict[int, str] = {}
    was_training = model.training
    model.eval()
    try:
        with _disabled(model):
            for chunk in generate_texts(model, tokenizer, prompts, settings, batch_size=config.batch_size):
                texts.update(chunk)
    finally:
        model.train(was_training)
    return [{**e, "completion": texts[i].strip()} for i, e in enumerate(examples)]


def _batches(n: int, size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [order[i : i + size] for i in range(0, n, size)]


def _batch_loss(model: Any, batch: Sequence[Encoded], targets: TeacherTargets, config: DistillConfig, pad_id: int
                ) -> torch.Tensor:
    """The KL of a batch, averaged over all its distilled positions."""
    with _disabled(model):
        teacher = targets(batch)
    student = logits_at(model, [e.student_ids for e in batch], [e.student_at for e in batch], pad_id)
    counts = [len(e.student_at) for e in batch]
    losses = [kl_loss(values, s, config.temperature, index) * c
              for (values, index), s, c in zip(teacher, student, counts, strict=True)]
    return torch.stack(losses).sum() / sum(counts)


def _targets(model: Any, pad_id: int, config: DistillConfig) -> TeacherTargets:
    return TeacherTargets(model, pad_id, config.label_tokens if config.over == "labels" else (), config.top_k,
                          config.cache_dir)


def _encode_all(tokenizer: Any, examples: Sequence[dict[str, str]], config: DistillConfig) -> list[Encoded]:
    encoded = []
    for i, example in enumerate(examples):
        try:
            encoded.append(encode(tokenizer, example, config.positions, add_eos=True))
        except ValueError as err:
            raise ValueError(f"distillation example {i}: {err}") from None
    return encoded


@torch.no_grad()
def distill_kl(model: Any, tokenizer: Any, examples: Sequence[dict[str, str]], config: DistillConfig) -> float:
    """Mean KL (with the T^2 factor) of the student (``model``, adapters on) from the teacher (adapters off)
    over the examples' distilled positions; a plain model is both (the KL of an untrained student, whose
    LoRA update starts at zero)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = _encode_all(tokenizer, examples, config)
    targets = _targets(model, pad_id, replace(config, cache_dir=""))
    was_training = model.training
    model.eval()
    try:
        total = positions = 0.0
        for start in range(0, len(encoded), config.batch_size):
            batch = encoded[start : start + config.batch_size]
            n = sum(len(e.student_at) for e in batch)
            total += float(_batch_loss(model, batch, targets, config, pad_id)) * n
            positions += n
    finally:
        model.train(was_training)
    return total / positions


def distill(model: Any, tokenizer: Any, examples: Sequence[dict[str, str]], config: DistillConfig
            ) -> tuple[Any, list[dict[str, float]]]:
    """Distil the teacher prompts into a LoRA student that sees the student prompts.

    Args:
        model: the base causal LM (fp32 on CPU), or a peft model whose adapters are the student.
        tokenizer: its tokenizer.
        examples: ``{"teacher_prompt", "student_prompt", "completion"}`` dicts, prompts already templated
            (e.g. with :func:`fcmatch.extract.generation.chat_prompt`); ``completion`` may be empty when
            ``positions="first"`` or ``answers`` generates it.
        config: the settings; ``config.output_dir`` gets ``adapter/``, ``config.yaml``, ``metrics.jsonl``
            and, when answers were generated, ``teacher_answers.jsonl``.

    Returns:
        ``(peft model, history)``: one ``{"step", "epoch", "loss", "lr"}`` per optimizer step.

    Raises:
        ValueError: an empty example list or a malformed example (its index named).
        DistillCacheError: an unreadable or mismatched teacher-cache file.
    """
    if not examples:
        raise ValueError("distill: no examples")
    torch.manual_seed(config.seed)
    model = _as_student(model, config)
    if config.answers != "given":
        examples = teacher_answers(model, tokenizer, examples, config)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = _encode_all(tokenizer, examples, config)
    targets = _targets(model, pad_id, config)
    rng = random.Random(config.seed)
    plan = [(epoch, b) for epoch in range(config.epochs) for b in _batches(len(encoded), config.batch_size, rng)]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    warmup = int(config.warmup_ratio * len(plan))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (warmup + 1)))
    history: list[dict[str, float]] = []
    model.train()
    bar = tqdm(plan, desc="distill", unit="step", disable=not config.progress)
    for step, (epoch, batch) in enumerate(bar, start=1):
        loss = _batch_loss(model, [encoded[i] for i in batch], targets, config, pad_id)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        schedule.step()
        value = loss.item()
        history.append({"step": step, "epoch": epoch, "loss": value, "lr": lr})
        bar.set_postfix(kl=f"{value:.4f}")
    model.eval()
    if config.output_dir:
        _save(model, config, history, examples if config.answers != "given" else None)
    return model, history


def _save(model: Any, config: DistillConfig, history: list[dict[str, float]],
          answers: Sequence[dict[str, str]] | None) -> None:
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out / "adapter")
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in history)
    if answers is not None:
        with open(out / "teacher_answers.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in answers)
    save_beside(config, out)
