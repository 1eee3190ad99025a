"""Greedy decoding of many prompts: a shared-prefix KV cache and a batch that refills as rows finish.

Every extraction prompt starts with the same system turn and instruction (86 of 100-350 tokens for SmolLM2
on the val sentences), so that prefix goes through the model once; each prompt then prefills only its own
suffix, and the prefix's keys/values are copied into its cache row. A row leaves the batch as soon as it
writes eos and a waiting prompt takes its place, so the batch stays full until the queue runs dry instead
of shrinking, batch after batch, to the one rambling answer that every batch has.

Cache layout: ``_Slots`` keeps every layer's keys/values in buffers of ``batch_size`` rows with spare
columns. All rows share a column window whose right edge is the newest token; a row's prompt is
right-aligned in it when the row is admitted, the columns left of it are masked. Masked columns get zero
attention weight and position ids count real tokens only, so each row decodes what its prompt alone
decodes, up to fp32 rounding from different matmul shapes.

Written by hand because transformers' own continuous batching (``model.generate_batch``, paged attention)
decoded the same text but took 69.5 s against 20.1 s for fcmatch's earlier length-sorted batches on 16 val
sentences (1 CPU thread): its paged kernels are built for GPUs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import Cache, DynamicCache
from transformers.cache_utils import DynamicLayer

from fcmatch.upstream import cache_kwargs, output_cache

PREFILL_TOKENS = 1024
"""Suffix tokens packed into one prefill forward at most. A forward has a large fixed cost (SmolLM2-135M, one
loaded CPU core: 332 ms for 50 tokens, 502 ms for 100), so small prefills are slow per token: 6.6 ms/token for
one 50-token suffix against 2.6 ms/token for 16 of them. The packed mask and attention grow with the square of
the packed length, hence the cap."""


def common_prefix_length(token_ids: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix that all sequences share, leaving at least one token of each.

    Token-level (not text-level), so cutting there splits every prompt exactly where its own tokenization
    has a boundary. Returns 0 for fewer than two sequences: a lone prompt has nothing to share.
    """
    if len(token_ids) < 2:
        return 0
    first = token_ids[0]
    length = min(len(ids) for ids in token_ids) - 1  # every row needs a suffix token to predict from
    for ids in token_ids[1:]:
        same = 0
        while same < length and ids[same] == first[same]:
            same += 1
        length = same
    return max(length, 0)


class _SlotLayer(DynamicLayer):
    """One layer's keys and values, written in place into the ``_Slots`` buffers.

    DynamicLayer's ``torch.cat`` copies the whole cache on every decode step: 96 ms per step for 16 rows of
    250 columns on one CPU thread here, a third of the step.
    """

    def __init__(self, slots: _Slots, keys: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        self.slots, self.buffers = slots, [keys, values]
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True

    def get_seq_length(self) -> int:
        return self.slots.end - self.slots.start

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
               ) -> tuple[torch.Tensor, torch.Tensor]:
        rows, end, new = self.slots.rows, self.slots.end, key_states.shape[2]
        for buffer, states in zip(self.buffers, (key_states, value_states), strict=True):
            buffer[:rows, :, end : end + new] = states
        self.keys, self.values = (buffer[:rows, :, self.slots.start : end + new] for buffer in self.buffers)
        return self.keys, self.values


class _Slots:
    """The running rows: a cache of ``_SlotLayer`` layers, a mask, and each row's prompt index and next token.

    Rows ``[:rows]`` of the buffers are in use, columns ``[start, end)`` are the window. Removing a row moves
    the last row into its place (one row copied), admitting one writes the next free row, and columns that
    no row attends to any more leave the window by moving ``start``; only running out of columns copies the
    whole cache.
    """

    spare = 128
    """Columns allocated ahead of the window."""

    def __init__(self, capacity: int, like: list[tuple[torch.Tensor, torch.Tensor]], width: int) -> None:
        """Room for ``capacity`` rows and a ``width``-column window; ``like``: one row's keys/values per layer."""
        self.capacity, self.rows, self.start, self.end = capacity, 0, 0, width
        columns = width + self.spare
        self.mask = torch.zeros((capacity, columns), dtype=torch.long, device=like[0][0].device)
        # zeros, not empty: a masked column still multiplies its value by a zero weight, and 0 * nan is nan
        self.cache = Cache(layers=[
            _SlotLayer(self, *(t.new_zeros((capacity, t.shape[1], columns, t.shape[3])) for t in kv)) for kv in like
        ])
        self.index: list[int] = []
        self.tokens = torch.zeros(capacity, dtype=torch.long, device=self.mask.device)

    def _reserve(self, width: int) -> None:
        """Make the window at least ``width`` wide with a free column after it, copying only when needed."""
        if self.end - width >= 0 and self.end < self.mask.shape[1]:
            if self.end - self.start < width:
                self.mask[: self.rows, self.end - width : self.start] = 0
                self.start = self.end - width
            return
        old = slice(self.start, self.end)
        self.start, self.end = 0, max(width, self.end - self.start)
        keep = self.end - (old.stop - old.start)  # masked columns added on the left
        columns = self.end + self.spare
        mask = self.mask.new_zeros((self.capacity, columns))
        mask[:, keep : self.end] = self.mask[:, old]
        self.mask = mask
        for layer in self.cache.layers:
            fresh = [b.new_zeros((*b.shape[:2], columns, b.shape[3])) for b in layer.buffers]
            for new, buffer in zip(fresh, layer.buffers, strict=True):
                new[:, :, keep : self.end] = buffer[:, :, old]
            layer.buffers = fresh

    def admit(self, index: int, token: int, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Add a row whose prompt's keys/values (per layer, (1, heads, prompt tokens, dim)) end at the window edge."""
        length = kv[0][0].shape[2]
        self._reserve(length)
        row = self.rows
        self.mask[row, self.start : self.end] = 0
        self.mask[row, self.end - length : self.end] = 1
        for layer, (keys, values) in zip(self.cache.layers, kv, strict=True):
            layer.buffers[0][row, :, self.end - length : self.end] = keys[0]
            layer.buffers[1][row, :, self.end - length : self.end] = values[0]
        self.index.append(index)
        self.tokens[row] = token
        self.rows += 1

    def remove(self, rows: list[int]) -> None:
        """Drop these rows (positions in ``index``), then the columns no remaining row attends to."""
        if not rows:
            return
        window = slice(self.start, self.end)
        for row in sorted(rows, reverse=True):
            last = self.rows - 1
            if row != last:
                self.mask[row, window] = self.mask[last, window]
                for layer in self.cache.layers:
                    for buffer in layer.buffers:
                        buffer[row, :, window] = buffer[last, :, window]
                self.index[row] = self.index[last]
                self.tokens[row] = self.tokens[last]
            self.index.pop()
            self.rows -= 1
        if self.rows:
            self.start += int(self.mask[: self.rows, window].any(0).int().argmax())

    def step(self, model: Any) -> None:
        """Feed each row's token; ``tokens`` then holds the next ones."""
        self._reserve(0)
        self.mask[: self.rows, self.end] = 1
        mask = self.mask[: self.rows, self.start : self.end + 1]
        out = model(input_ids=self.tokens[: self.rows, None], attention_mask=mask,
                    position_ids=mask.sum(-1, keepdim=True) - 1, use_cache=True, logits_to_keep=1,
                    **cache_kwargs(model, self.cache))
        self.end += 1
        self.tokens[: self.rows] = out.logits[:, -1].argmax(-1)


def supported(model: Any) -> bool:
    """True when every layer of the model attends to its whole past (Llama, SmolLM2, Qwen2, ...).

    Sliding-window or recurrent layers keep other caches than the column window this module manages.
    """
    return all(type(layer) is DynamicLayer for layer in DynamicCache(config=model.config).layers)


def _prefill_prefix(model: Any, prefix: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Keys and values of the shared prefix, batch 1, per layer."""
    device = next(model.parameters()).device
    out = model(input_ids=torch.tensor([list(prefix)], device=device), use_cache=True, logits_to_keep=1)
    return [(layer.keys, layer.values) for layer in output_cache(out).layers]


def _prefill(model: Any, prefix_kv: list[tuple[torch.Tensor, torch.Tensor]], suffixes: list[Sequence[int]]
             ) -> tuple[list[int], list[list[tuple[torch.Tensor, torch.Tensor]]]]:
    """Prefill suffixes packed into one sequence after the prefix, each attending to the prefix and itself.

    Packing instead of padding: the suffixes of the 16 longest val prompts padded to one width were 64% padding.

    Returns:
        Per suffix: the first generated token, and per layer its prompt's keys/values (prefix included).
    """
    device = next(model.parameters()).device
    prefix_len = prefix_kv[0][0].shape[2] if prefix_kv else 0
    lengths = [len(s) for s in suffixes]
    total = sum(lengths)
    ends = torch.tensor(lengths).cumsum(0)
    starts = ends - torch.tensor(lengths)
    owner = torch.repeat_interleave(torch.arange(len(suffixes)), torch.tensor(lengths))
    column = torch.arange(total)
    # query i sees the prefix and the earlier tokens of its own suffix
    allowed = (owner[:, None] == owner[None, :]) & (column[None, :] <= column[:, None])
    allowed = torch.cat([torch.ones((total, prefix_len), dtype=torch.bool), allowed], dim=1)
    dtype = model.dtype  # an additive mask, as eager attention expects; sdpa takes it too
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    positions = prefix_len + column - starts[owner]
    cache = DynamicCache([(k, v) for k, v in prefix_kv]) if prefix_kv else DynamicCache()
    out = model(input_ids=torch.tensor([[t for s in suffixes for t in s]], device=device),
                attention_mask=mask[None, None].to(device), position_ids=positions[None].to(device),
                use_cache=True, logits_to_keep=(ends - 1).to(device), **cache_kwargs(model, cache))
    first = out.logits[0].argmax(-1).tolist()
    layers = [(layer.keys, layer.values) for layer in cache.layers]
    rows = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        picks = torch.cat([torch.arange(prefix_len), torch.arange(prefix_len + start, prefix_len + end)]).to(device)
        rows.append([(k[:, :, picks], v[:, :, picks]) for k, v in layers])
    return first, rows


def _packs(lengths: list[int], budget: int) -> Iterator[list[int]]:
    """Consecutive positions grouped so that each group's lengths sum to at most ``budget`` (at least one each)."""
    group: list[int] = []
    used = 0
    for i, length in enumerate(lengths):
        if group and used + length > budget:
            yield group
            group, used = [], 0
        group.append(i)
        used += length
    if group:
        yield group


@torch.inference_mode()
def greedy_stream(
    model: Any,
    token_ids: Sequence[Sequence[int]],
    max_new_tokens: int,
    eos_token_id: int,
    batch_size: int = 16,
    share_prefix: bool = True,
) -> Iterator[tuple[int, list[int]]]:
    """Greedy continuation of many tokenized prompts, yielded as each one finishes.

    Args:
        model: a causal LM (plain or peft) in eval mode with full attention in every layer.
        token_ids: the prompts, tokenized.
        max_new_tokens: token limit per answer.
        eos_token_id: a row stops after writing this token.
        batch_size: rows decoded together; freed rows are refilled from the longest waiting prompts.
        share_prefix: prefill the prompts' common token prefix once instead of once per prompt.

    Yields:
        (prompt index, generated token ids with eos included when it was written), in finishing order.

    Raises:
        ValueError: a batch size below 1, or a model that is not :func:`supported`.
    """
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    if not supported(model):
        raise ValueError(f"{type(model).__name__} has sliding-window or recurrent layers; decode it with model.generate")
    if not token_ids:
        return
    prefix_len = common_prefix_length(token_ids) if share_prefix else 0
    prefix_kv = _prefill_prefix(model, token_ids[0][:prefix_len]) if prefix_len else []
    # longest first: the first prefill is the one with the peak memory, so an out-of-memory shows at once;
    # and a later prompt is never wider than the window, which spans the longest running row
    waiting = deque(sorted(range(len(token_ids)), key=lambda i: (-len(token_ids[i]), i)))
    results: dict[int, list[int]] = {}
    slots: _Slots | None = None
    while waiting or slots is not None:
        free = batch_size - (slots.rows if slots else 0)
        if waiting and free > 0:
            slots = _admit(model, slots, prefix_kv, [waiting.popleft() for _ in range(min(free, len(waiting)))],
                           token_ids, batch_size)
        done = []
        for row, (index, token) in enumerate(zip(slots.index, slots.tokens[: slots.rows].tolist(), strict=True)):
            results.setdefault(index, []).append(token)
            if token == eos_token_id or len(results[index]) >= max_new_tokens:
                done.append(row)
                yield index, results.pop(index)
        slots.remove(done)
        if slots.rows:
            slots.step(model)
        else:
            slots = None


def _admit(model: Any, slots: _Slots | None, prefix_kv: list[tuple[torch.Tensor, torch.Tensor]],
           admitted: list[int], token_ids: Sequence[Sequence[int]], batch_size: int) -> _Slots:
    """Prefill the ``admitted`` prompts (packed, after the shared prefix) and add them to the running rows."""
    prefix_len = prefix_kv[0][0].shape[2] if prefix_kv else 0
    suffixes = [token_ids[i][prefix_len:] for i in admitted]
    for pack in _packs([len(s) for s in suffixes], PREFILL_TOKENS):
        first, kvs = _prefill(model, prefix_kv, [suffixes[j] for j in pack])
        if slots is None:
            slots = _Slots(batch_size, kvs[0], prefix_len + max(len(s) for s in suffixes))
        for j, token, kv in zip(pack, first, kvs, strict=True):
            slots.admit(admitted[j], token, kv)
    return slots
