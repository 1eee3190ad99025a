"""What a sweep measures on each model: one evaluator per task, registered in :data:`EVALUATORS`.

An evaluator reads the test records, scores one loaded model under one decoding setting, and tests a tuned
model against the base on the same records. Add one by writing a class with the three methods of
:class:`Evaluator` and an ``options`` dataclass (the sweep file's ``eval:`` keys), and adding it here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from fcmatch.sweep.evaluators.causal import CausalEvaluator
from fcmatch.sweep.evaluators.instruct import InstructEvaluator

Metric = dict[str, float | None]
"""``{"value", "ci_low", "ci_high"}``; the interval is None where the evaluator has none."""


class Evaluator(Protocol):
    """Scores models on a task's test records."""

    options: type
    """Dataclass of the evaluator's options; every field has a default and a docstring."""

    def read(self, path: str, limit: int) -> list[Any]:
        """The test records of ``path`` (the first ``limit``; 0 = all)."""
        ...

    def score(self, model: Any, tokenizer: Any, records: list[Any], settings: Any, options: Any,
              folder: Path, batch_size: int = 16) -> dict[str, Any]:
        """Generate with ``settings`` (GenerationSettings), ``batch_size`` prompts at a time, and score; may
        write its outputs (``pred.jsonl``) into ``folder``.

        Returns:
            ``{"metrics": {name: Metric}, ...}``: anything else in it (per-item rows) is kept in
            ``scores.json`` for :meth:`compare`.
        """
        ...

    def compare(self, base: dict[str, Any], tuned: dict[str, Any], options: Any) -> dict[str, dict[str, float]]:
        """Paired test of two :meth:`score` results on the same records.

        Returns:
            ``{name: {"difference" (tuned - base), "ci_low", "ci_high", "p_value"}}``.
        """
        ...


EVALUATORS: dict[str, Evaluator] = {
    "causal": CausalEvaluator(),
    "instruct": InstructEvaluator("instruct"),
    "instruct-chat": InstructEvaluator("instruct-chat"),
}

__all__ = ["EVALUATORS", "CausalEvaluator", "Evaluator", "InstructEvaluator", "Metric"]
