"""Records -> tokenised examples with completion-only targets -> packed micro-batches.

An example is the token ids of a chat (prompt + completion, in the model's chat template) and, for each
position, the id of the next token when that next token belongs to the completion, else -100. The
completion runs up to and including the end-of-turn token (``<|im_end|>`` for ChatML), so the model
learns to stop; anything the template writes after it is dropped.

Packing concatenates the examples of a micro-batch into one row and restarts ``position_ids`` at 0 for
each; transformers (>= 4.5x, 5.x) turns restarting position ids into a block-diagonal causal mask when
no attention mask is passed, so packed examples never attend to each other and no position is padding.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fcmatch.data.formats import iter_jsonl

log = logging.getLogger(__name__)
IGNORE = -100


@dataclass(frozen=True)
class Example:
    """One tokenised training example."""

    input_ids: list[int]
    """Prompt and completion token ids."""
    targets: list[int]
    """Next-token id at positions whose next token is in the completion, -100 elsewhere (same length)."""

    @property
    def loss_tokens(self) -> int:
        """Number of positions that carry loss."""
        return sum(t != IGNORE for t in self.targets)


@dataclass
class Batch:
    """A micro-batch ready for the model: rows of ids, position ids and targets."""

    input_ids: torch.Tensor
    """(rows, length) token ids."""
    position_ids: torch.Tensor
    """(rows, length) positions, restarting at 0 for each packed example."""
    targets: torch.Tensor
    """(rows, length) next-token targets, -100 where there is no loss."""
    attention_mask: torch.Tensor | None
    """(rows, length) 1 for real tokens when rows are padded; None when packed."""
    tokens: int
    """Real (non-padding) tokens."""
    loss_tokens: int
    """Positions that carry loss."""


def _chat_records(path: Path) -> list[list[dict[str, str]]]:
    """Generic JSONL: ``{"messages": [...]}`` or ``{"prompt": ..., "completion": ...}`` per line."""
    return [record_messages(record, where) for where, record in iter_jsonl(path)]


def record_messages(record: Any, where: str) -> list[dict[str, str]]:
    """Chat messages of one generic record, ending with the assistant's completion.

    Raises:
        ValueError: naming ``where`` when the record has neither usable ``messages`` nor prompt/completion.
    """
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object")
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages
        ):
            raise ValueError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
        if messages[-1]["role"] != "assistant":
            raise ValueError(f"{where}: the last message must be the assistant's (the completion trained on)")
        return messages
    if isinstance(record.get("prompt"), str) and isinstance(record.get("completion"), str):
        return [{"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": record["completion"]}]
    raise ValueError(f"{where}: needs 'messages' or string 'prompt' and 'completion' fields")


def load_conversations(
    path: str | os.PathLike, task: str, limit: int = 0
) -> list[list[dict[str, str]] | dict[str, str]]:
    """Read a data file and turn each record into chat messages with the task.

    Args:
        path: the file.
        task: a name in ``fcmatch.tasks.TASKS`` (records read by its ``read_records``) or ``"chat"``.
        limit: keep only the first N records (0 = all).

    Raises:
        FileNotFoundError, ValueError: missing or malformed file (the message names file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    if task == "chat":
        conversations = _chat_records(path)
    else:
        from fcmatch.tasks import TASKS

        examples = [TASKS[task].to_example(record) for record in TASKS[task].read_records(path)]
        conversations = [example.get("messages", example) for example in examples]
    if limit:
        conversations = conversations[:limit]
    if not conversations:
        raise ValueError(f"{path}: no records")
    return conversations


def _template(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def tokenize(tokenizer: Any, messages: list[dict[str, str]] | dict[str, str]) -> Example:
    """Tokenise a conversation; loss on the last (assistant) message through its end-of-turn token.

    Prompt and completion are tokenised separately, as at inference the prompt is encoded alone and
    the completion is generated after it. A task's raw-text example, ``{"prompt", "completion"}`` (such
    as the Alpaca template), skips the chat template: its prompt as written, then completion + eos
    (no eos when the example has ``"eos": False``).

    Raises:
        ValueError: the template does not render the prompt as a prefix of the whole conversation.
    """
    eos = tokenizer.eos_token
    if isinstance(messages, dict):
        # "eos": False (a classification task's verbalizer) puts the loss on the completion's tokens alone
        prompt, completion = messages["prompt"], messages["completion"] + (eos or "" if messages.get("eos", True) else "")
    elif getattr(tokenizer, "chat_template", None):
        prompt = _template(tokenizer, messages[:-1], True)
        full = _template(tokenizer, messages, False)
        if not full.startswith(prompt):
            raise ValueError("the chat template does not render the prompt as a prefix of the full conversation")
        completion = full[len(prompt):]
        cut = completion.rfind(eos) if eos else -1
        completion = completion[: cut + len(eos)] if cut >= 0 else completion + (eos or "")
    else:  # plain LM without a template: prompt text then completion text then eos
        prompt = "\n".join(m["content"] for m in messages[:-1]) + "\n"
        completion = messages[-1]["content"] + (eos or "")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    ids = list(prompt_ids) + list(completion_ids)
    # position t predicts token t+1: positions len(prompt)-1 .. len(ids)-2 carry loss
    targets = [IGNORE] * (len(prompt_ids) - 1) + list(completion_ids) + [IGNORE]
    return Example(ids, targets)


def tokenize_all(tokenizer: Any, conversations: Sequence[list[dict[str, str]]], max_length: int) -> list[Example]:
    """Tokenise conversations, skipping (and logging the count of) examples longer than ``max_length``."""
    examples = [tokenize(tokenizer, messages) for messages in conversations]
    kept = [e for e in examples if len(e.input_ids) <= max_length and e.loss_tokens > 0]
    if len(kept) < len(examples):
        log.warning("skipped %d of %d examples longer than max_length=%d tokens or with an empty completion",
                    len(examples) - len(kept), len(examples), max_length)
    if not kept:
        raise ValueError(f"no example fits in max_length={max_length} tokens")
    return kept


def collate(examples: Sequence[Example], packing: bool = True, pad_id: int = 0) -> Batch:
    """Make a micro-batch: one packed row, or one padded row per example.

    Padded rows put padding on the right, where causal attention never lets a real token see it.
    """
    tokens = sum(len(e.input_ids) for e in examples)
    loss_tokens = sum(e.loss_tokens for e in examples)
    if packing:
        ids = [t for e in examples for t in e.input_ids]
        pos = [p for e in examples for p in range(len(e.input_ids))]
        tgt = [t for e in examples for t in e.targets]
        return Batch(torch.tensor([ids]), torch.tensor([pos]), torch.tensor([tgt]), None, tokens, loss_tokens)
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    tgt = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        tgt[row, :n] = torch.tensor(e.targets)
        mask[row, :n] = 1
    pos = torch.arange(width).expand(len(examples), -1).contiguous()
    return Batch(ids, pos, tgt, mask, tokens, loss_tokens)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """A seeded permutation of ``range(n)`` for one epoch (the same in every process)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


def step_examples(n: int, global_batch: int, seed: int, step: int) -> list[int]:
    """Indices of the examples of optimizer step ``step`` (0-based) in an endless seeded shuffle.

    The data position is a pure function of the step, so a resumed run needs only the step number.
    """
    start = step * global_batch
    out: list[int] = []
    while len(out) < global_batch:
        epoch, offset = divmod(start + len(out), n)
        order = epoch_order(n, seed, epoch)
        out.extend(order[offset: offset + global_batch - len(out)])
    return out


def micro_batches(
    examples: Sequence[Example], indices: Sequence[int], batch_size: int, rank: int, world: int
) -> Iterator[list[Example]]:
    """This process's micro-batches of one optimizer step.

    The step's indices are cut into groups of ``batch_size * world``; process ``rank`` takes its slice of each.
    """
    group = batch_size * world
    for start in range(0, len(indices), group):
        part = indices[start: start + group][rank * batch_size: (rank + 1) * batch_size]
        if part:
            yield [examples[i] for i in part]


def data_hash(*paths: str | os.PathLike) -> str:
    """sha256 of the given files' bytes (empty paths skipped), for the manifest."""
    digest = hashlib.sha256()
    for path in paths:
        if path:
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()
