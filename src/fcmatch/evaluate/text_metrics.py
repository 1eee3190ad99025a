"""Text metrics of a model's raw serialised output against the serialised gold map.

These compare strings, not graphs: they are reported next to the edge F1 because the literature on
causal-map extraction reports them, and because they move when a model's formatting drifts even where
the graph score does not. All scores are in [0, 1] (BLEU is sacrebleu's score / 100).

- BLEU: sacrebleu, corpus level and sentence level, with sacrebleu's own ``13a`` tokeniser (it splits
  ``->`` and ``(+)`` into punctuation tokens, so the sign is a token of its own). Feeding untokenised
  strings to a word-level BLEU, as the MATCH study did, turns ``yield (+)`` into one opaque token.
- ROUGE-L: rouge-score's F-measure, called as ``score(target=gold, prediction=pred)`` (the original
  study swapped them, which swaps ROUGE precision and recall). rouge-score's default tokeniser drops
  every non-alphanumeric character, so ``(+)`` and ``(-)`` would vanish; the same lower-cased 13a tokens
  as BLEU are used instead.
- BERTScore: bert-score with the embedded all-MiniLM-L6-v2 folder (layer 6) by default, or any local
  Hugging Face folder.
- Exact match: the raw output equals the gold serialisation after stripping surrounding whitespace.

The raw output of a prediction is ``meta["raw"]`` when the extractor kept it (``fcmatch extract``
does), else the canonical serialisation of its edges.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from fcmatch.data.causal_map import CausalMap
from fcmatch.data.serialize import format_edges

# layer 6 is the last of all-MiniLM-L6-v2's six; bert-score has no default for a local folder
BERTSCORE_LAYERS = 6


def raw_output(cmap: CausalMap) -> str:
    """What the model wrote: ``meta["raw"]`` when it is a string, else the canonical serialisation."""
    raw = cmap.meta.get("raw")
    return raw if isinstance(raw, str) else format_edges(cmap.edges)


@functools.cache
def _tokenizer_13a() -> Any:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()


class _Tokens13a:
    """rouge-score tokenizer protocol (``tokenize(text) -> list[str]``) over lower-cased 13a tokens."""

    def tokenize(self, text: str) -> list[str]:
        return _tokenizer_13a()(text.lower()).split()


def bleu(preds: list[str], golds: list[str]) -> dict[str, Any]:
    """sacrebleu BLEU (13a tokens, default exponential smoothing for sentences), scaled to [0, 1].

    Args:
        preds: hypotheses.
        golds: one reference per hypothesis.

    Returns:
        ``{"corpus": float, "sentences": [float]}``.

    Raises:
        ValueError: the lists differ in length.
    """
    import sacrebleu

    _same_length(preds, golds)
    if not preds:
        return {"corpus": 0.0, "sentences": []}
    # min(): sacrebleu's exp/log round trip gives 100.00000000000004 for identical strings
    corpus = min(1.0, sacrebleu.corpus_bleu(preds, [golds]).score / 100.0)
    sentences = [min(1.0, sacrebleu.sentence_bleu(p, [g]).score / 100.0) for p, g in zip(preds, golds, strict=True)]
    return {"corpus": corpus, "sentences": sentences}


def rouge_l(preds: list[str], golds: list[str]) -> list[dict[str, float]]:
    """ROUGE-L of each prediction against its gold: precision over the prediction's tokens, recall
    over the gold's.

    Returns:
        One ``{"precision", "recall", "f1"}`` per pair.

    Raises:
        ValueError: the lists differ in length.
    """
    from rouge_score import rouge_scorer

    _same_length(preds, golds)
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokens13a())
    out = []
    for p, g in zip(preds, golds, strict=True):
        s = scorer.score(target=g, prediction=p)["rougeL"]
        out.append({"precision": s.precision, "recall": s.recall, "f1": s.fmeasure})
    return out


def bertscore(
    preds: list[str], golds: list[str], model: str | os.PathLike | None = None, num_layers: int | None = None
) -> list[dict[str, float]]:
    """BERTScore of each prediction (candidate) against its gold (reference), no IDF, no rescaling.

    Args:
        preds: candidates.
        golds: references.
        model: a local Hugging Face encoder folder; default the embedded all-MiniLM-L6-v2.
        num_layers: the layer whose states are compared; default 6 for the embedded encoder, else the
            model's last layer (read from its config).

    Returns:
        One ``{"precision", "recall", "f1"}`` per pair.

    Raises:
        FileNotFoundError: ``model`` is not a local folder with a config.json.
        ValueError: the lists differ in length.
    """
    import bert_score

    from fcmatch.models import default_device, encoder_path, quiet_loading

    _same_length(preds, golds)
    if not preds:
        return []
    folder = encoder_path() if model is None else os.fspath(model)
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise FileNotFoundError(f"--bertscore-model {folder}: not a local model folder (no config.json)")
    if num_layers is None:
        num_layers = BERTSCORE_LAYERS if model is None else _last_layer(folder)
    with quiet_loading():
        p, r, f = bert_score.score(
            preds, golds, model_type=str(folder), num_layers=num_layers, device=str(default_device()), batch_size=32
        )
    return [{"precision": float(a), "recall": float(b), "f1": float(c)} for a, b, c in zip(p, r, f, strict=True)]


def _last_layer(folder: str) -> int:
    import json

    with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    layers = config.get("num_hidden_layers") or config.get("n_layer") or config.get("num_layers")
    if not isinstance(layers, int):
        raise ValueError(f"{folder}/config.json names no num_hidden_layers; pass num_layers explicitly")
    return layers


def exact_match(preds: list[str], golds: list[str]) -> list[float]:
    """1.0 where the prediction equals its gold after stripping surrounding whitespace, else 0.0."""
    _same_length(preds, golds)
    return [float(p.strip() == g.strip()) for p, g in zip(preds, golds, strict=True)]


def _same_length(preds: list[str], golds: list[str]) -> None:
    if len(preds) != len(golds):
        raise ValueError(f"{len(preds)} predictions but {len(golds)} references")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def text_metrics(
    pairs: list[tuple[CausalMap, CausalMap]], bertscore_model: str | os.PathLike | None = None, with_bertscore: bool = True
) -> dict[str, Any]:
    """All text metrics for (gold, pred) pairs.

    Args:
        pairs: from :func:`fcmatch.evaluate.pairing.pair_maps`.
        bertscore_model: local encoder folder for BERTScore; default the embedded MiniLM.
        with_bertscore: False skips BERTScore (it loads a model, a few seconds).

    Returns:
        ``{"bleu", "bleu_sentence", "rougeL", "bertscore_f1" (when computed), "exact_match",
        "per_sentence": [{"bleu", "rougeL", "bertscore_f1", "exact_match"}]}``: corpus BLEU, then
        means of the sentence-level scores.
    """
    golds = [format_edges(g.edges) for g, _ in pairs]
    preds = [raw_output(p) for _, p in pairs]
    b = bleu(preds, golds)
    rouge = [s["f1"] for s in rouge_l(preds, golds)]
    em = exact_match(preds, golds)
    rows: list[dict[str, float]] = [
        {"bleu": x, "rougeL": y, "exact_match": z} for x, y, z in zip(b["sentences"], rouge, em, strict=True)
    ]
    out: dict[str, Any] = {"bleu": b["corpus"], "bleu_sentence": _mean(b["sentences"]), "rougeL": _mean(rouge)}
    if with_bertscore:
        scores = [s["f1"] for s in bertscore(preds, golds, bertscore_model)]
        out["bertscore_f1"] = _mean(scores)
        out["bertscore_model"] = str(bertscore_model) if bertscore_model else "all-MiniLM-L6-v2 (embedded)"
        for row, s in zip(rows, scores, strict=True):
            row["bertscore_f1"] = s
    out["exact_match"] = _mean(em)
    out["per_sentence"] = rows
    return out
