"""Text metrics: a causal-map extractor's raw output against the serialised gold map, and free-text
responses (the instruction study) against their references.

They compare strings, not graphs. For causal maps they are reported next to the edge F1 because the
literature on causal-map extraction reports them, and because they move when a model's formatting drifts
even where the graph score does not. All scores are in [0, 1] (BLEU is sacrebleu's score / 100, so
identical strings score 1.0, sacrebleu's 100).

- BLEU: sacrebleu, corpus level and sentence level, with sacrebleu's own ``13a`` tokeniser (it splits
  ``->`` and ``(+)`` into punctuation tokens, so the sign is a token of its own). Feeding untokenised
  strings to a word-level BLEU, as the MATCH study did, turns ``yield (+)`` into one opaque token; NLTK's
  unsmoothed ``sentence_bleu`` scores an identical one-word answer 1.8e-231 (two words 1.5e-154), where
  sacrebleu's sentence BLEU, with effective order, gives 1.
- ROUGE: rouge-score's F-measure, called as ``score(target=gold, prediction=pred)`` (the original
  study swapped them, which swaps ROUGE precision and recall). For causal maps, rouge-score's default
  tokeniser would drop every non-alphanumeric character, so ``(+)`` and ``(-)`` would vanish; the same
  lower-cased 13a tokens as BLEU are used instead. Free text uses rouge-score's own tokeniser with Porter
  stemming (:func:`rouge`).
- BERTScore: bert-score with the embedded all-MiniLM-L6-v2 folder (layer 6) by default, or any local
  Hugging Face folder; prediction = candidate, gold = reference. Its absolute values are not comparable
  with those published with roberta-large (bert-score's default for English): another encoder has
  another similarity scale, so only compare scores computed with the same encoder and layer.
- Exact match: for causal maps, the raw output equals the gold serialisation after stripping surrounding
  whitespace; for free text, SQuAD's normalised exact match and token F1 (:func:`normalize_answer`).

:func:`score_texts` computes all of them for free text, each headline metric with a bootstrap interval,
and :func:`compare` tests two systems on the same items. The raw output of a predicted causal map is
``meta["raw"]`` when the extractor kept it (``fcmatch extract`` does), else the canonical serialisation of
its edges.
"""

from __future__ import annotations

import functools
import os
import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

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

    Precision averages, over the prediction's tokens, the best cosine with a gold token; recall the reverse.
    A pair with an empty side scores 0, as in bert-score. Values depend on the encoder and layer: the
    embedded MiniLM's are not comparable with published roberta-large scores.

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
    # bert-score scores a pair with an empty side 0 and prints a warning per batch; same scores, no noise
    keep = [i for i, (p, g) in enumerate(zip(preds, golds, strict=True)) if p.strip() and g.strip()]
    out = [{"precision": 0.0, "recall": 0.0, "f1": 0.0} for _ in preds]
    if not keep:
        return out
    folder = encoder_path() if model is None else os.fspath(model)
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise FileNotFoundError(f"--bertscore-model {folder}: not a local model folder (no config.json)")
    if num_layers is None:
        num_layers = BERTSCORE_LAYERS if model is None else _last_layer(folder)
    with quiet_loading():
        p, r, f = bert_score.score(
            [preds[i] for i in keep], [golds[i] for i in keep], model_type=str(folder), num_layers=num_layers,
            device=str(default_device()), batch_size=32,
        )
    for i, a, b, c in zip(keep, p, r, f, strict=True):
        out[i] = {"precision": float(a), "recall": float(b), "f1": float(c)}
    return out


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


# --- free text: the instruction study --------------------------------------------------------------------

_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower-case, drop punctuation, drop the articles a/an/the, collapse spaces.

    As in the SQuAD v1.1 evaluation script (Rajpurkar et al. 2016), which is a few lines and no package.
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def normalized_exact_match(preds: Sequence[str], golds: Sequence[str]) -> list[float]:
    """1.0 where the prediction equals its gold after :func:`normalize_answer`, else 0.0 (SQuAD's EM)."""
    _same_length(preds, golds)
    return [float(normalize_answer(p) == normalize_answer(g)) for p, g in zip(preds, golds, strict=True)]


def token_f1(preds: Sequence[str], golds: Sequence[str]) -> list[float]:
    """SQuAD's token F1 of each prediction: the harmonic mean of the shares of its normalised tokens found in
    the gold (precision) and of the gold's tokens it found (recall), tokens counted with multiplicity.

    Both sides empty after normalisation scores 1.0, one side empty 0.0 (the SQuAD v2.0 rule).
    """
    _same_length(preds, golds)
    out = []
    for p, g in zip(preds, golds, strict=True):
        pred, gold = normalize_answer(p).split(), normalize_answer(g).split()
        if not pred or not gold:
            out.append(float(pred == gold))
            continue
        same = sum((Counter(pred) & Counter(gold)).values())
        out.append(0.0 if same == 0 else 2 * same / (len(pred) + len(gold)))
    return out


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def rouge(preds: Sequence[str], golds: Sequence[str], types: Sequence[str] = ROUGE_TYPES,
          stemming: bool = True) -> list[dict[str, dict[str, float]]]:
    """ROUGE of free text with rouge-score's tokeniser (lower-cased alphanumeric words), Porter stemming on.

    Precision is over the prediction's n-grams, recall over the gold's: rouge-score's
    ``score(target, prediction)`` is called in that order.

    Returns:
        Per pair, ``{type: {"precision", "recall", "f1"}}`` for each of ``types``.

    Raises:
        ValueError: the lists differ in length.
    """
    from rouge_score import rouge_scorer, tokenizers

    _same_length(preds, golds)
    # the tokeniser RougeScorer builds by default, passed in so that it does not log "Using default tokenizer."
    scorer = rouge_scorer.RougeScorer(list(types), tokenizer=tokenizers.DefaultTokenizer(use_stemmer=stemming))
    out = []
    for p, g in zip(preds, golds, strict=True):
        scores = scorer.score(target=g, prediction=p)
        out.append({t: {"precision": s.precision, "recall": s.recall, "f1": s.fmeasure} for t, s in scores.items()})
    return out


def bleu_statistics(preds: Sequence[str], golds: Sequence[str]) -> np.ndarray:
    """sacrebleu's sufficient statistics per pair, shape (n, 10): hypothesis length, reference length, matching
    1- to 4-grams, hypothesis 1- to 4-grams. Their column sums give the corpus BLEU (:func:`corpus_bleu`).
    """
    from sacrebleu.metrics import BLEU

    _same_length(preds, golds)
    metric = BLEU()
    rows = []
    for p, g in zip(preds, golds, strict=True):
        s = metric.corpus_score([p], [[g]])
        rows.append([s.sys_len, s.ref_len, *s.counts, *s.totals])
    return np.array(rows, dtype=np.float64).reshape(len(rows), 10)


def corpus_bleu(sums: np.ndarray, n: int = 0, effective_order: bool = False) -> np.ndarray:
    """Corpus BLEU / 100 from summed :func:`bleu_statistics`, one per row of ``sums`` (a
    :data:`fcmatch.evaluate.bootstrap.Statistic`; ``n`` is unused). sacrebleu's own ``compute_bleu``, with
    the exponential smoothing ``corpus_bleu`` uses, so the value equals ``sacrebleu.corpus_bleu``'s; with
    ``effective_order`` (n-gram orders the text is too short for are left out), one pair's row gives
    ``sacrebleu.sentence_bleu``'s."""
    from sacrebleu.metrics import BLEU

    out = []
    for row in np.rint(np.atleast_2d(sums)).astype(int).tolist():
        score = BLEU.compute_bleu(row[2:6], row[6:10], row[0], row[1], smooth_method="exp",
                                  effective_order=effective_order).score
        out.append(min(1.0, score / 100.0))  # exp/log round trip: 100.00000000000004 for identical strings
    return np.array(out)


HEADLINE_METRICS = {
    "bleu": "sacrebleu corpus BLEU / 100 (13a tokens)",
    "bleu_sentence": "mean sacrebleu sentence BLEU / 100 (exponential smoothing, effective order)",
    "rouge1": "mean ROUGE-1 F (rouge-score, Porter stemming)",
    "rouge2": "mean ROUGE-2 F (rouge-score, Porter stemming)",
    "rougeL": "mean ROUGE-L F (rouge-score, Porter stemming)",
    "bertscore_precision": "mean BERTScore precision (prediction tokens matched in the reference)",
    "bertscore_recall": "mean BERTScore recall (reference tokens matched in the prediction)",
    "bertscore_f1": "mean BERTScore F1",
    "exact_match": "share of predictions equal to their reference after SQuAD normalisation",
    "token_f1": "mean SQuAD token F1",
}
"""Every headline metric of :func:`score_texts`; each but ``bleu`` is the mean of the item column of its name."""


def _items(result: dict[str, Any] | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(result["items"] if isinstance(result, dict) else result)


def score_texts(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    bertscore_model: str | os.PathLike | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    with_bertscore: bool = True,
    level: float = 0.95,
) -> dict[str, Any]:
    """Every headline metric (:data:`HEADLINE_METRICS`) of free-text predictions, with bootstrap intervals.

    Args:
        predictions: model outputs.
        references: one reference per prediction.
        bertscore_model: local encoder folder for BERTScore; default the embedded all-MiniLM-L6-v2 (layer 6).
        bootstrap: percentile-bootstrap resamples of the items (0: no intervals).
        seed: bootstrap seed; every metric is resampled on the same draws.
        with_bertscore: False skips BERTScore (it loads an encoder, a few seconds).
        level: coverage of the intervals.

    Returns:
        ``{"n", "metrics": {name: {"value", "ci_low", "ci_high"}}, "items": [{metric: value, ...,
        "bleu_stats": [10 counts]}], "bertscore_model", "bootstrap": {"resamples", "seed", "level"}}``;
        an item holds every metric but corpus ``bleu``, which :func:`compare` recomputes from ``bleu_stats``.

    Raises:
        ValueError: no predictions, or the lists differ in length.
        FileNotFoundError: ``bertscore_model`` is not a local model folder.
    """
    from fcmatch.evaluate.bootstrap import bootstrap_interval

    _same_length(predictions, references)
    if not predictions:
        raise ValueError("no predictions to score")
    preds, golds = list(predictions), list(references)
    stats = bleu_statistics(preds, golds)
    # sentence BLEU from the same counts: what sacrebleu.sentence_bleu gives, without tokenising twice
    columns: dict[str, list[float]] = {"bleu_sentence": corpus_bleu(stats, effective_order=True).tolist()}
    rouges = rouge(preds, golds)
    for name in ROUGE_TYPES:
        columns[name] = [r[name]["f1"] for r in rouges]
    if with_bertscore:
        scores = bertscore(preds, golds, bertscore_model)
        for part in ("precision", "recall", "f1"):
            columns[f"bertscore_{part}"] = [s[part] for s in scores]
    columns["exact_match"] = normalized_exact_match(preds, golds)
    columns["token_f1"] = token_f1(preds, golds)
    draw = {"resamples": bootstrap, "seed": seed, "level": level}
    metrics = {"bleu": bootstrap_interval(stats, corpus_bleu, **draw)}
    metrics.update({name: bootstrap_interval(values, **draw) for name, values in columns.items()})
    items = [{name: values[i] for name, values in columns.items()} | {"bleu_stats": stats[i].astype(int).tolist()}
             for i in range(len(preds))]
    label = (str(bertscore_model) if bertscore_model else "all-MiniLM-L6-v2 (embedded)") if with_bertscore else None
    return {"n": len(preds), "metrics": {k: metrics[k] for k in HEADLINE_METRICS if k in metrics}, "items": items,
            "bertscore_model": label, "bootstrap": draw}


def compare(
    base_items: dict[str, Any] | Sequence[dict[str, Any]],
    tuned_items: dict[str, Any] | Sequence[dict[str, Any]],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Paired test of a tuned system against a base one on the same items, metric by metric.

    Args:
        base_items, tuned_items: :func:`score_texts` results (or their ``items``) for the same references in
            the same order; items that carry an ``id`` must agree on it.
        resamples: for the paired bootstrap interval and the paired permutation test
            (:func:`fcmatch.evaluate.bootstrap.paired_test`).
        seed: numpy seed.
        level: coverage of the intervals.

    Returns:
        ``{"n", "metrics": {name: {"a" (base), "b" (tuned), "difference" (tuned - base), "ci_low", "ci_high",
        "p_value", ...}}, "test"}`` for every headline metric both systems have.

    Raises:
        ValueError: different numbers of items, or items whose ids differ.
    """
    from fcmatch.evaluate.bootstrap import paired_test

    a, b = _items(base_items), _items(tuned_items)
    if len(a) != len(b):
        raise ValueError(f"compare needs the same items: {len(a)} base and {len(b)} tuned")
    if [x.get("id") for x in a] != [y.get("id") for y in b]:
        raise ValueError("compare needs both systems scored on the same items in the same order (ids differ)")
    out: dict[str, Any] = {}
    for name in HEADLINE_METRICS:
        key = "bleu_stats" if name == "bleu" else name
        if not a or not all(key in x for x in a + b):
            continue
        column = [x[key] for x in a], [y[key] for y in b]
        extra = {"statistic": corpus_bleu} if name == "bleu" else {}
        out[name] = paired_test(*column, resamples=resamples, seed=seed, level=level, **extra)
    return {"n": len(a), "metrics": out,
            "test": "paired bootstrap interval of tuned - base; two-sided paired permutation p-value"}
