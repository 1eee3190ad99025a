"""Scoring by logits: the label whose verbalizer token has the highest next-token logit at the answer position.

No generation. For ICL the demonstrations are the same prefix for every query of a run, so their KV cache
is computed once and copied per batch of queries; without it each query would recompute k demonstrations
(k=64: ~5,000 tokens) and the CPU cost would grow with k times the test set. Token ids are the context's
and the query's, each tokenised on its own, in both the cached and the uncached path, so both score the
same ids. A run whose longest prompt exceeds ``max_position_embeddings`` is returned as skipped, never
truncated.

Cost per test example: prompt tokens (context + query), latency (the context's forward amortised over the
test set plus the batches, divided by the number of examples), and peak memory above what was in use when
scoring started (CUDA: allocator peak; CPU: resident set sampled every 5 ms).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fcmatch.fewshot.data import ClassRecord
from fcmatch.fewshot.patterns import Pattern, context, label_tokens, query
from fcmatch.upstream import cache_kwargs, output_cache


@dataclass
class Scores:
    """The outcome of scoring one test set.

    Attributes:
        labels: the label order of ``logits``' columns.
        predictions: one label per record (empty when skipped).
        logits: (records, labels) verbalizer-token logits.
        skipped: why the run was not scored ('' when it was).
        prompt_tokens: mean tokens the model reads per example (context + query).
        context_tokens: tokens of the shared demonstrations.
        latency_s: seconds per example (context forward amortised over the set).
        peak_memory_mb: peak memory above the starting level while scoring, MiB.
    """

    labels: list[str]
    predictions: list[str] = field(default_factory=list)
    logits: np.ndarray | None = None
    skipped: str = ""
    prompt_tokens: float = 0.0
    context_tokens: int = 0
    latency_s: float = 0.0
    peak_memory_mb: float = 0.0


@contextmanager
def peak_memory(device: torch.device) -> Iterator[dict[str, float]]:
    """Yields a dict whose ``mb`` is, on exit, the peak memory above the level at entry (MiB)."""
    out = {"mb": 0.0}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        yield out
        out["mb"] = (torch.cuda.max_memory_allocated(device) - start) / 2**20
        return
    import psutil

    process = psutil.Process()
    start = process.memory_info().rss
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield out
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], process.memory_info().rss)
        out["mb"] = (peak[0] - start) / 2**20


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _padded(rows: Sequence[list[int]], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device), torch.tensor([len(r) - 1 for r in rows], device=device)


LONG_CONTEXT = 512
"""Context tokens from which queries are scored one at a time against the shared cache (no copies)."""


def _keep(last: torch.Tensor) -> torch.Tensor:
    """The distinct answer positions of a batch, sorted (``logits_to_keep`` as sequence indices)."""
    return torch.unique(last)


@torch.no_grad()
def answer_logits(model: Any, prefix: list[int], queries: Sequence[list[int]], token_ids: list[int],
                  batch_size: int = 8, use_cache: bool = True, pad_id: int = 0, progress: bool = False) -> torch.Tensor:
    """Next-token logits of ``token_ids`` after ``prefix + query``, one row per query.

    Args:
        model: a causal LM (transformers or peft).
        prefix: shared context ids (the demonstrations); may be empty.
        queries: the queries' ids.
        token_ids: the verbalizer tokens, in label order.
        batch_size: queries per forward; padding goes on the right, where causal attention cannot see it.
            A context of :data:`LONG_CONTEXT` tokens or more is scored one query at a time.
        use_cache: compute the prefix's KV cache once and copy it per batch, or crop it back after each query
            (False: prefix + query in full).

    Returns:
        float32 tensor (queries, len(token_ids)).
    """
    device = _device(model)
    cache = None
    if prefix and use_cache:
        cache = output_cache(model(torch.tensor([prefix], device=device), use_cache=True, logits_to_keep=1))
    rows = []
    # with a long cached context, one query at a time, cropping the cache back to the context after each:
    # copying a k=64 context's cache (~230 MB for SmolLM2-135M) per batch row cost more than batching saved
    # (measured on one CPU thread: 2.0 s per query unbatched against 3.3 s in batches of 4)
    step = 1 if cache is not None and len(prefix) >= LONG_CONTEXT else batch_size
    starts = range(0, len(queries), step)
    for start in tqdm(starts, desc="score", unit="batch", disable=not progress, leave=False):
        chunk = queries[start : start + step]
        if cache is not None:
            ids, mask, last = _padded(chunk, pad_id, device)
            if step == 1:
                past = cache
            else:
                past = copy.deepcopy(cache)
                past.batch_repeat_interleave(len(chunk))
            full_mask = torch.cat([torch.ones((len(chunk), len(prefix)), dtype=mask.dtype, device=device), mask], 1)
            positions = (torch.arange(ids.shape[1], device=device) + len(prefix)).expand(len(chunk), -1)
            keep = _keep(last)
            logits = model(input_ids=ids, attention_mask=full_mask, position_ids=positions, use_cache=True,
                           logits_to_keep=keep, **cache_kwargs(model, past)).logits
            if step == 1:  # a negative crop removes that many trailing tokens (transformers 5 refuses positive ones)
                cache.crop(-(cache.get_seq_length() - len(prefix)))
            del past  # a batch's copy of the cache is the largest buffer here
        else:
            ids, full_mask, last = _padded([prefix + q for q in chunk], pad_id, device)
            keep = _keep(last)
            logits = model(input_ids=ids, attention_mask=full_mask, use_cache=False, logits_to_keep=keep).logits
        # logits only at the rows' answer positions: the LM head over every position (49k vocabulary) was most
        # of the cost of a forward
        picked = logits[torch.arange(len(chunk), device=device), torch.searchsorted(keep, last)]
        rows.append(picked[:, token_ids].float().cpu())
    return torch.cat(rows) if rows else torch.zeros((0, len(token_ids)))


def max_positions(model: Any) -> int:
    """The model's context limit (``max_position_embeddings``; 0 if it has none)."""
    config = getattr(model, "config", None)
    return int(getattr(config, "max_position_embeddings", 0) or 0)


def score(model: Any, tokenizer: Any, pattern: Pattern, records: Sequence[ClassRecord],
          demos: Sequence[ClassRecord] = (), batch_size: int = 8, use_cache: bool = True,
          progress: bool = False) -> Scores:
    """Predict each record's label from the verbalizer logits, with ``demos`` as in-context demonstrations.

    Raises:
        PatternError: a verbalizer that is not one token of ``tokenizer``.
    """
    token_of = label_tokens(pattern, tokenizer)
    labels = list(token_of)
    prefix = _ids(tokenizer, context(pattern, demos, tokenizer))
    queries = [_ids(tokenizer, query(pattern, r, demos, tokenizer)) for r in records]
    result = Scores(labels, context_tokens=len(prefix))
    if not queries:
        return result
    result.prompt_tokens = len(prefix) + float(np.mean([len(q) for q in queries]))
    limit = max_positions(model)
    longest = len(prefix) + max(len(q) for q in queries)
    if limit and longest > limit:
        result.skipped = f"context of {longest} tokens exceeds the model's limit of {limit}"
        return result
    device = _device(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # one token through the model first: weights loaded by mmap are paged in on first use, and would
    # otherwise count as the first run's scoring memory
    answer_logits(model, [], [queries[0][:1]], [token_of[labels[0]]], 1, use_cache, pad)
    with peak_memory(device) as memory:
        tick = time.perf_counter()
        logits = answer_logits(model, prefix, queries, [token_of[x] for x in labels], batch_size, use_cache, pad, progress)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - tick
    result.logits = logits.numpy()
    result.predictions = [labels[i] for i in logits.argmax(1).tolist()]
    result.latency_s = seconds / len(queries)
    result.peak_memory_mb = memory["mb"]
    return result
