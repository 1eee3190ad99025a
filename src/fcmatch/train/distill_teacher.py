"""The teacher side of context distillation: which positions are distilled, the teacher's (restricted)
logits there, computed on the fly or cached to disk once, and the tempered KL loss.

An example is ``{"teacher_prompt", "student_prompt", "completion"}`` (templated strings). Teacher and
student both read ``prompt + completion``; the distilled positions are those predicting the completion's
tokens (``positions="all"``, generation) or only its first token (``positions="first"``, classification: the
answer position). The teacher's distribution there is compared with the student's over the whole
vocabulary, over the ``label_tokens`` only, or over the teacher's ``top_k`` tokens; over a subset both
distributions are renormalised over it, so a cached subset gives the very loss the on-the-fly run gives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F


class DistillCacheError(ValueError):
    """A teacher-logit cache file that cannot be read or does not belong to its example."""


@dataclass
class Encoded:
    """One example as token ids, with the distilled positions of each side.

    ``teacher_at[i]`` and ``student_at[i]`` are the positions whose next-token logits predict the same
    completion token in the teacher's and the student's sequence.
    """

    teacher_ids: list[int]
    student_ids: list[int]
    teacher_at: list[int]
    student_at: list[int]


def encode(tokenizer: Any, example: dict[str, str], positions: str, add_eos: bool) -> Encoded:
    """Token ids of both sides and the positions to distil.

    Args:
        example: ``teacher_prompt``, ``student_prompt`` and ``completion`` (may be empty for ``positions="first"``).
        positions: ``"first"`` (the answer position) or ``"all"`` (every completion token).
        add_eos: append the eos token to the completion, so the student also learns where the answer stops.

    Raises:
        ValueError: a missing key, or ``positions="all"`` with an empty completion.
    """
    for key in ("teacher_prompt", "student_prompt"):
        if not isinstance(example.get(key), str) or not example[key]:
            raise ValueError(f"distillation example lacks a non-empty {key!r}: {sorted(example)}")
    # the prompts are templated already: no BOS/EOS added around them (as fcmatch.extract.generation)
    tok = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    completion = tok(example.get("completion") or "")
    if add_eos and positions == "all":
        completion = [*completion, tokenizer.eos_token_id]
    if positions == "all" and not completion:
        raise ValueError("positions='all' needs a completion to distil along; got an empty one")
    count = len(completion) if positions == "all" else 1
    teacher, student = tok(example["teacher_prompt"]), tok(example["student_prompt"])
    return Encoded([*teacher, *completion], [*student, *completion],
                   [len(teacher) - 1 + i for i in range(count)], [len(student) - 1 + i for i in range(count)])


def model_fingerprint(model: Any) -> str:
    """A short id of the teacher's weights: its name plus a hash of a slice of every tensor.

    Hashing a slice (not all 135M values) keeps this at milliseconds and still tells two random inits or two
    checkpoints of the same architecture apart. With peft, the base weights only (the teacher has no adapter).
    """
    digest = hashlib.sha256(str(getattr(model.config, "name_or_path", "")).encode())
    for name, param in sorted(model.named_parameters()):
        if "lora_" in name:
            continue
        digest.update(name.encode())
        digest.update(param.detach().flatten()[:64].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_key(fingerprint: str, encoded: Encoded, selection: str) -> str:
    """Hash of the teacher's model, its token ids, the distilled positions and the kept-logit selection."""
    payload = json.dumps([fingerprint, encoded.teacher_ids, encoded.teacher_at, selection])
    return hashlib.sha256(payload.encode()).hexdigest()


def select(logits: torch.Tensor, label_tokens: Sequence[int], top_k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The teacher logits the loss uses: ``(values, indices)``; indices None for the full vocabulary.

    Args:
        logits: ``[positions, vocab]``.
        label_tokens: keep these columns (same for every position); takes precedence over ``top_k``.
        top_k: keep the teacher's k largest per position (0 = all).
    """
    if label_tokens:
        index = torch.tensor(list(label_tokens), device=logits.device).expand(logits.shape[0], -1)
        return logits.gather(-1, index), index
    if top_k:
        values, index = logits.topk(min(top_k, logits.shape[-1]), dim=-1)
        return values, index
    return logits, None


def kl_loss(teacher: torch.Tensor, student: torch.Tensor, temperature: float,
            index: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over positions of ``T^2 * KL(softmax(teacher / T) || softmax(student / T))``.

    Args:
        teacher: ``[positions, K]`` teacher logits (K = vocab, or the kept subset).
        student: ``[positions, vocab]`` student logits.
        temperature: T > 0. The T^2 factor keeps the gradient's size about constant across T
            (Hinton et al. 2015): softened targets otherwise shrink it by 1/T^2.
        index: ``[positions, K]`` vocabulary ids of the teacher's columns; then the student's logits are
            taken at them and both distributions are renormalised over the subset.
    """
    if index is not None:
        student = student.gather(-1, index)
    log_p = F.log_softmax(teacher.float() / temperature, dim=-1)
    log_q = F.log_softmax(student.float() / temperature, dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    return kl.mean() * temperature**2


def pad_batch(rows: Sequence[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask; with right padding the real tokens keep positions 0..n-1."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


def logits_at(model: Any, rows: Sequence[list[int]], at: Sequence[list[int]], pad_id: int) -> list[torch.Tensor]:
    """Next-token logits ``[len(at[i]), vocab]`` of row i at its positions ``at[i]``, one batched forward."""
    device = next(model.parameters()).device
    ids, mask = pad_batch(rows, pad_id, device)
    hidden = model(input_ids=ids, attention_mask=mask, logits_to_keep=0).logits
    return [hidden[i, torch.tensor(pos, device=device)] for i, pos in enumerate(at)]


class TeacherTargets:
    """Teacher logits per example: computed when asked (on the fly), or once and kept in ``cache_dir``.

    Args:
        model: the teacher forward (the student with its adapters disabled, see ``fcmatch.train.distill``).
        label_tokens, top_k: the kept logits (see :func:`select`).
        cache_dir: folder of ``<key>.pt`` files; empty = no disk cache.
    """

    def __init__(self, model: Any, pad_id: int, label_tokens: Sequence[int], top_k: int, cache_dir: str) -> None:
        self.model, self.pad_id = model, pad_id
        self.label_tokens, self.top_k = list(label_tokens), top_k
        self.selection = json.dumps({"labels": self.label_tokens, "top_k": top_k})
        self.cache = Path(cache_dir) if cache_dir else None
        self.fingerprint = model_fingerprint(model) if self.cache else ""
        self.hits = self.misses = 0

    @torch.no_grad()
    def compute(self, batch: Sequence[Encoded]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """The kept teacher logits of each example (the forward runs in eval mode, no dropout)."""
        was_training = self.model.training
        self.model.eval()
        try:
            full = logits_at(self.model, [e.teacher_ids for e in batch], [e.teacher_at for e in batch], self.pad_id)
        finally:
            self.model.train(was_training)
        return [select(f, self.label_tokens, self.top_k) for f in full]

    def __call__(self, batch: Sequence[Encoded]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        if self.cache is None:
            return self.compute(batch)
        keys = [cache_key(self.fingerprint, e, self.selection) for e in batch]
        found = [self._read(k, e) for k, e in zip(keys, batch, strict=True)]
        missing = [i for i, f in enumerate(found) if f is None]
        self.hits += len(batch) - len(missing)
        self.misses += len(missing)
        if missing:
            for i, target in zip(missing, self.compute([batch[i] for i in missing]), strict=True):
                self._write(keys[i], target)
                found[i] = target
        return found  # type: ignore[return-value]

    def _path(self, key: str) -> Path:
        assert self.cache is not None
        return self.cache / f"{key}.pt"

    def _read(self, key: str, encoded: Encoded) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            values, index = data["values"], data.get("indices")
            stored = data["key"]
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
            raise DistillCacheError(f"{path}: broken teacher-logit cache file ({type(err).__name__}: {err}); "
                                    "delete it (or the cache folder) to recompute the teacher") from None
        if stored != key or values.shape[0] != len(encoded.teacher_at):
            raise DistillCacheError(f"{path}: cache file does not match its example (key {stored!r}, "
                                    f"{values.shape[0]} positions for {len(encoded.teacher_at)}); delete it")
        device = next(self.model.parameters()).device
        return values.to(device), None if index is None else index.to(device)

    def _write(self, key: str, target: tuple[torch.Tensor, torch.Tensor | None]) -> None:
        values, index = target
        data = {"key": key, "values": values.cpu()}
        if index is not None:
            data["indices"] = index.cpu()
        self.cache.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        path = self._path(key)
        tmp = path.with_suffix(".tmp")
        torch.save(data, tmp)
        tmp.replace(path)  # atomic: a killed run leaves no half-written .pt
