"""Which sentence to annotate next: the ones where models are least sure, or disagree most.

People's time helps most where a model is weak. Two scores, both "higher = annotate sooner":

- ``uncertainty``: read from a prediction's ``meta``: ``uncertainty`` as is, else ``-mean_logprob``
  (mean token log-probability of the generated output, nats), else ``1 - confidence``, else the number
  of parse problems of the raw output (a model that could not write well-formed edges was unsure);
  averaged over the models that predicted the sentence;
- ``disagreement``: 1 - mean pairwise graph F1 between different models' maps of the sentence
  (needs predictions from two or more models).

``input`` keeps the file order. Sentences without any prediction keep their input order after the
scored ones for ``uncertainty``/``disagreement`` (no evidence that they are hard).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations

from fcmatch.data.causal_map import CausalMap

ORDERINGS = ("input", "uncertainty", "disagreement")


def model_uncertainty(prediction: CausalMap) -> float:
    """Uncertainty of one prediction from its ``meta`` (see the module docstring for the keys tried)."""
    meta = prediction.meta
    for key, transform in (
        ("uncertainty", lambda v: v),
        ("mean_logprob", lambda v: -v),
        ("confidence", lambda v: 1.0 - v),
    ):
        value = meta.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(transform(value))
    return float(len(meta.get("problems") or []))


def model_disagreement(predictions: Sequence[CausalMap], matcher: str = "exact") -> float:
    """1 - mean pairwise graph F1 of different models' maps of one sentence; 0.0 for fewer than two."""
    from fcmatch.evaluate.graph import compare_maps

    pairs = list(combinations(predictions, 2))
    if not pairs:
        return 0.0
    return 1.0 - sum(compare_maps(a, b, matcher).f1 for a, b in pairs) / len(pairs)


def priorities(
    predictions: Mapping[Hashable, Sequence[CausalMap]], by: str = "uncertainty", matcher: str = "exact"
) -> dict[Hashable, float]:
    """Priority of every sentence that has predictions (higher = sooner).

    Args:
        predictions: ``{sentence key: [one prediction per model]}``.
        by: ``uncertainty`` or ``disagreement`` (``input`` gives every sentence 0.0).
        matcher: node matcher for ``disagreement``.

    Raises:
        ValueError: unknown ``by``, or ``disagreement`` when no sentence has two models' predictions.
    """
    if by not in ORDERINGS:
        raise ValueError(f"--by must be one of {', '.join(ORDERINGS)}, got {by!r}")
    if by == "input":
        return {key: 0.0 for key in predictions}
    if by == "uncertainty":
        return {key: sum(map(model_uncertainty, ps)) / len(ps) for key, ps in predictions.items() if ps}
    if not any(len(ps) >= 2 for ps in predictions.values()):
        raise ValueError("--by disagreement needs predictions from at least two models; import another model's")
    return {key: model_disagreement(ps, matcher) for key, ps in predictions.items()}
