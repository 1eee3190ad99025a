"""Evaluate extracted causal maps against gold maps.

- :mod:`~fcmatch.evaluate.matching`: node matchers (the ``MATCHERS`` registry) and assignment.
- :mod:`~fcmatch.evaluate.graph`: edge counts and per-sentence, micro and macro P/R/F1.
- :mod:`~fcmatch.evaluate.pairing`: pair gold and predicted files by sentence text.
- :mod:`~fcmatch.evaluate.text_metrics`: BLEU, ROUGE-L, BERTScore and exact match on serialised maps.
- :mod:`~fcmatch.evaluate.bootstrap`: confidence intervals and paired comparison.
- :mod:`~fcmatch.evaluate.encoder`: cached MiniLM embeddings.

Run from the command line with ``fcmatch evaluate --gold FILE --pred FILE``.
"""

from fcmatch.evaluate.graph import EdgeCounts, compare_maps, evaluate_maps
from fcmatch.evaluate.matching import MATCHERS, Matcher, match_nodes

__all__ = ["MATCHERS", "EdgeCounts", "Matcher", "compare_maps", "evaluate_maps", "match_nodes"]
