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
verdicts on pairs not asked are then left out of its figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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
    """

    name: str = "llm_judge"
    model: str = "smollm2-135m-instruct"
    max_pairs: int | None = None
    max_edges: int = 12
    batch_size: int = 4
    description: str = "SmolLM2-135M asked which map fits the sentence better, both orders averaged"
    optional: bool = True

    def params(self) -> dict[str, Any]:
        return {"model": self.model, "max_pairs": self.max_pairs, "max_edges": self.max_edges,
                "prompt_version": PROMPT_VERSION}

    def family(self, data: JudgementData, sentences: dict[str, Sentence],
               params: dict[str, Any] | None = None) -> JudgeFamily:
        """The judge's preferences on one study (computed here); ``params`` may override model and caps."""
        judge = self if params is None else ModelJudge(self.name, params["model"], params["max_pairs"],
                                                      params["max_edges"], self.batch_size)
        return JudgeFamily(judge, data, sentences)


def _asked(sentence: Sentence, max_pairs: int | None, rng: np.random.Generator) -> list[tuple[int, int]]:
    judged = np.concatenate([sentence.verdicts, sentence.reliability])
    pairs = sorted({(int(min(i, j)), int(max(i, j))) for i, j in judged})
    if max_pairs is not None and len(pairs) > max_pairs:
        pairs = [pairs[k] for k in sorted(rng.permutation(len(pairs))[:max_pairs])]
    return pairs


class JudgeFamily:
    """The model judge on one study: ``P`` per sentence, computed once; nothing to fit."""

    def __init__(self, judge: ModelJudge, data: JudgementData, sentences: dict[str, Sentence]) -> None:
        from fcmatch.models import load

        self.name = judge.name
        self.judge = judge
        self.sentences = sentences
        model, tokenizer = load(judge.model)
        rng = np.random.default_rng(0)
        jobs: list[tuple[str, int, int]] = []
        prompts: list[str] = []
        for sid, s in sentences.items():
            maps = [data.items[x].map for x in s.items]
            for i, j in _asked(s, judge.max_pairs, rng):
                for first, second in ((i, j), (j, i)):
                    jobs.append((sid, first, second))
                    prompts.append(prompt(data.sentences[sid], maps[first], maps[second], judge.max_edges))
        p_first = first_preferred(model, tokenizer, prompts, judge.batch_size) if prompts else np.zeros(0)
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
