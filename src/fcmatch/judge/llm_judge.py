"""A model judge: a causal language model asked which of two causal maps fits the sentence better.

For each pair of maps of a sentence the model sees the sentence and both maps (as ``cause -> effect
(+/-)`` lines) in one chat turn and is asked to answer ``A`` or ``B``; the answer is read from the
next-token logits of those two tokens, ``p(A) = softmax(logit_A, logit_B)[0]``. Each pair is asked in
both orders and averaged, ``P(i over j) = (p_A(i, j) + 1 - p_A(j, i)) / 2``, which cancels a fixed
preference for the first (or second) position; the mean ``p_A`` over all prompts is reported as the
position bias. Nothing is fitted on verdicts. Scores: pairwise preferences from ``P``; an item's
consensus (and paper) score is its mean ``P`` over the pairs it was asked about (0.5 if none).

One forward pass per ordered pair: 900 for ../shared/data/match (all 45 pairs of 10 sentences, ~205k
tokens), so the entry is optional and ``max_pairs`` caps the pairs asked per sentence (a seeded sample;
verdicts on pairs not asked are then left out of its figures). With ``cache`` set, every answer is
appended to that JSONL file as soon as its batch is done (one ``{"key", "p_first"}`` line per prompt,
keyed by the model, the prompt version and the prompt text), so an interrupted run resumes and a
rerun asks the model nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fcmatch.data.causal_map import CausalMap, sign_symbol
from fcmatch.judge.tables import ItemScores, sentence_stats

if TYPE_CHECKING:
    from fcmatch.judge.judgements import JudgementData
    from fcmatch.judge.tables import Sentence

PROMPT_VERSION = 1


def describe(cmap: CausalMap, max_edges: int) -> str:
    """The map's edges as ``- cause -> effect (+)`` lines (at most ``max_edges``; ``- (no edges)`` if empty)."""
    lines = [f"- {e.cause} -> {e.effect} ({sign_symbol(e.sign)})" for e in cmap.edges[:max_edges]]
    if len(cmap.edges) > max_edges:
        lines.append(f"- ... ({len(cmap.edges) - max_edges} more)")
    return "\n".join(lines) or "- (no edges)"


def prompt(text: str, first: CausalMap, second: CausalMap, max_edges: int) -> str:
    """The user turn asking which of two maps fits ``text`` better."""
    return (f"Sentence: {text}\n\nCausal map A:\n{describe(first, max_edges)}\n\nCausal map B:\n"
            f"{describe(second, max_edges)}\n\nWhich causal map describes the cause-and-effect claims of the "
            "sentence better, A or B? Answer with one letter.")


def first_preferred(model: Any, tokenizer: Any, prompts: list[str], batch_size: int) -> np.ndarray:
    """p(A) over {A, B} for the next token after each chat-formatted prompt."""
    import torch

    ids = [tokenizer.encode(x, add_special_tokens=False) for x in ("A", "B")]
    if any(len(i) != 1 for i in ids):
        raise ValueError(f"the answers A and B must be one token each, got {ids}")
    a, b = ids[0][0], ids[1][0]
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in prompts]
    out = []
    for start in range(0, len(texts), batch_size):
        rows = [tokenizer.encode(t, add_special_tokens=False) for t in texts[start:start + batch_size]]
        width = max(len(r) for r in rows)
        pad = tokenizer.pad_token_id
        # left padding, positions counted over real tokens only, so each row reads as if alone
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device),
                           position_ids=positions.to(model.device)).logits[:, -1, [a, b]].float()
        out.append(torch.softmax(logits, dim=-1)[:, 0].cpu().numpy())
    return np.concatenate(out).astype(np.float64)


@dataclass(frozen=True)
class ModelJudge:
    """Registry entry of the model judge (module docstring).

    Attributes:
        name: registry key.
        model: anything :func:`fcmatch.models.load` takes.
        max_pairs: pairs asked per sentence (a seeded sample of the judged pairs); None = all.
        max_edges: edges shown per map (longer maps end with "... (k more)").
        batch_size: prompts per forward pass.
        description: one line for the docs and the report table.
        optional: left out of a run unless named.
        cache: JSONL file of answers already computed (read, then appended to); None = no cache.
    """

    name: str = "llm_judge"
    model: str = "smollm2-135m-instruct"
    max_pairs: int | None = None
    max_edges: int = 12
    batch_size: int = 4
    description: str = "SmolLM2-135M asked which map fits the sentence better, both orders averaged"
    optional: bool = True
    cache: str | None = None

    def params(self) -> dict[str, Any]:
        return {"model": self.model, "max_pairs": self.max_pairs, "max_edges": self.max_edges,
                "prompt_version": PROMPT_VERSION}

    def family(self, data: JudgementData, sentences: dict[str, Sentence],
               params: dict[str, Any] | None = None) -> JudgeFamily:
        """The judge's preferences on one study (computed here); ``params`` may override model and caps."""
        judge = self if params is None else replace(self, model=params["model"], max_pairs=params["max_pairs"],
                                                    max_edges=params["max_edges"])
        return JudgeFamily(judge, data, sentences)


def _asked(sentence: Sentence, max_pairs: int | None, rng: np.random.Generator) -> list[tuple[int, int]]:
    judged = np.concatenate([sentence.verdicts, sentence.reliability])
    pairs = sorted({(int(min(i, j)), int(max(i, j))) for i, j in judged})
    if max_pairs is not None and len(pairs) > max_pairs:
        pairs = [pairs[k] for k in sorted(rng.permutation(len(pairs))[:max_pairs])]
    return pairs


def cache_key(model: str, text: str) -> str:
    """The cache key of one prompt: model name, prompt version and prompt text, hashed."""
    return hashlib.sha256(f"{model}\0{PROMPT_VERSION}\0{text}".encode()).hexdigest()


def read_cache(path: str | os.PathLike) -> dict[str, float]:
    """Answers in a cache file (empty if it does not exist); a torn last line is skipped.

    Raises:
        ValueError: a line before the last that is not ``{"key": ..., "p_first": ...}`` (names file and line).
    """
    path = Path(path)
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    out = {}
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            out[str(row["key"])] = float(row["p_first"])
        except (ValueError, KeyError, TypeError) as err:
            if number == len(lines):  # a run killed mid-write: that answer is asked again
                break
            raise ValueError(f"{path}:{number}: not a model-judge cache line ({err})") from err
    return out


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line left without its newline (a killed run) so that appended lines stay whole."""
    if not path.exists():
        return
    with path.open("rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


def cached_answers(judge: ModelJudge, prompts: list[str]) -> np.ndarray:
    """p(A) for each prompt, from ``judge.cache`` where present (new answers appended batch by batch).

    The model is loaded only if some prompt is not in the cache.
    """
    from tqdm import tqdm

    from fcmatch.models import load

    if judge.cache is None:
        model, tokenizer = load(judge.model)
        return first_preferred(model, tokenizer, prompts, judge.batch_size)
    path = Path(judge.cache)
    known = read_cache(path)
    keys = [cache_key(judge.model, p) for p in prompts]
    todo = sorted({k: n for n, k in enumerate(keys) if k not in known}.values())
    if todo:
        model, tokenizer = load(judge.model)
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(path)
        with path.open("a", encoding="utf-8") as out, tqdm(total=len(todo), desc="model judge", unit="prompt") as bar:
            for start in range(0, len(todo), judge.batch_size):
                batch = todo[start:start + judge.batch_size]
                answers = first_preferred(model, tokenizer, [prompts[n] for n in batch], judge.batch_size)
                for n, p in zip(batch, answers, strict=True):
                    known[keys[n]] = float(p)
                    out.write(json.dumps({"key": keys[n], "p_first": float(p)}) + "\n")
                out.flush()
                bar.update(len(batch))
    return np.array([known[k] for k in keys], dtype=np.float64)


class JudgeFamily:
    """The model judge on one study: ``P`` per sentence, computed once; nothing to fit."""

    def __init__(self, judge: ModelJudge, data: JudgementData, sentences: dict[str, Sentence]) -> None:
        self.name = judge.name
        self.judge = judge
        self.sentences = sentences
        rng = np.random.default_rng(0)
        jobs: list[tuple[str, int, int]] = []
        prompts: list[str] = []
        for sid, s in sentences.items():
            maps = [data.items[x].map for x in s.items]
            for i, j in _asked(s, judge.max_pairs, rng):
                for first, second in ((i, j), (j, i)):
                    jobs.append((sid, first, second))
                    prompts.append(prompt(data.sentences[sid], maps[first], maps[second], judge.max_edges))
        p_first = cached_answers(judge, prompts) if prompts else np.zeros(0)
        self.position_bias = float(p_first.mean()) if len(p_first) else None
        answers = {(sid, f, t): p for (sid, f, t), p in zip(jobs, p_first, strict=True)}
        self.pref: dict[str, np.ndarray] = {}
        self.asked: dict[str, np.ndarray] = {}
        for sid, s in sentences.items():
            n = len(s.items)
            pref, asked = np.full((n, n), 0.5), np.zeros((n, n), dtype=bool)
            for (key, i, j), p in answers.items():
                if key == sid and i < j:
                    # (p + 1 - q) / 2 written so that equal answers give exactly 1/2 both ways
                    pref[i, j] = 0.5 + (p - answers[(sid, j, i)]) / 2
                    pref[j, i] = 0.5 + (answers[(sid, j, i)] - p) / 2
                    asked[i, j] = asked[j, i] = True
            self.pref[sid], self.asked[sid] = pref, asked

    def fit(self, train: Sequence[str]) -> dict[str, Any]:
        return {**self.judge.params(), "position_bias": self.position_bias}

    def scores(self, params: dict[str, Any], sid: str) -> ItemScores:
        pref, asked = self.pref[sid], self.asked[sid]
        counts = asked.sum(axis=1)
        consensus = np.where(counts > 0, (pref * asked).sum(axis=1) / np.maximum(counts, 1), 0.5)
        return ItemScores(consensus, consensus, pref)

    def stats(self, params: dict[str, Any], sid: str) -> np.ndarray:
        """Figures over the pairs asked only (with ``max_pairs``, verdicts on other pairs are not counted)."""
        s, asked = self.sentences[sid], self.asked[sid]
        kept = replace(s, verdicts=s.verdicts[asked[s.verdicts[:, 0], s.verdicts[:, 1]]],
                       reliability=s.reliability[asked[s.reliability[:, 0], s.reliability[:, 1]]])
        return sentence_stats(kept, self.scores(params, sid))
