"""The instruction evaluator of a sweep: respond to each test instruction, score against its reference.

Prompts are the training task's own (``fcmatch.tasks.TASKS[task].prompt_text``: the Alpaca template for
``instruct``, the chat template for ``instruct-chat``), so a tuned model sees at inference what it was trained
on. Responses come from :func:`fcmatch.instruct.generate.generate_responses` and are scored by
:func:`fcmatch.evaluate.text_metrics.score_texts` (BLEU, ROUGE, BERTScore, exact match, token F1, each with a
bootstrap interval); :func:`fcmatch.evaluate.text_metrics.compare` tests tuned against base.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcmatch.config import setting


@dataclass
class InstructOptions:
    """How a sweep scores responses (the sweep file's ``eval:`` keys for the instruct tasks)."""

    bertscore: bool = True
    """Include BERTScore (loads the embedded MiniLM encoder, a few seconds per point)."""
    bertscore_model: str | None = None
    """Local encoder folder for BERTScore; unset = the embedded all-MiniLM-L6-v2."""
    resamples: int = setting(1000, minimum=0)
    """Bootstrap resamples of the test records for the 95% intervals (0 = no intervals)."""
    seed: int = 0
    """Bootstrap seed; every point is resampled on the same draws."""


def generate(model: Any, tokenizer: Any, prompts: list[str], settings: Any) -> list[str]:
    """One response per prompt, through the instruction study's generation."""
    from fcmatch.instruct.generate import generate_responses

    return generate_responses(model, tokenizer, prompts, settings)


class InstructEvaluator:
    """Text metrics of the responses to a test file's instructions."""

    options = InstructOptions

    def __init__(self, task: str = "instruct") -> None:
        """``task``: the name in :data:`fcmatch.tasks.TASKS` whose prompts and references are used."""
        self.task = task

    def _task(self) -> Any:
        from fcmatch.tasks import TASKS

        return TASKS[self.task]

    def read(self, path: str, limit: int) -> list[Any]:
        """Instruction records (Alpaca, Dolly or chat files, as the task reads them)."""
        records = self._task().read_records(path)
        return records[:limit] if limit else records

    def score(self, model: Any, tokenizer: Any, records: list[Any], settings: Any, options: InstructOptions,
              folder: Path) -> dict[str, Any]:
        """Generate, write ``responses.jsonl`` into ``folder``, score.

        Returns:
            :func:`fcmatch.evaluate.text_metrics.score_texts`'s result: ``{"metrics", "items", ...}``.
        """
        from fcmatch.data.formats import atomic_write
        from fcmatch.evaluate.text_metrics import score_texts

        task = self._task()
        prompts = [task.prompt_text(record, tokenizer) for record in records]
        references = [task.reference(record) for record in records]
        responses = generate(model, tokenizer, prompts, settings)
        with atomic_write(folder / "responses.jsonl") as handle:
            for record, response, reference in zip(records, responses, references, strict=True):
                row = {"id": getattr(record, "id", ""), "response": response, "reference": reference}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return score_texts(responses, references, bertscore_model=options.bertscore_model,
                           bootstrap=options.resamples, seed=options.seed, with_bertscore=options.bertscore)

    def compare(self, base: dict[str, Any], tuned: dict[str, Any], options: InstructOptions) -> dict[str, dict[str, float]]:
        """Paired bootstrap interval and permutation p-value of every metric, tuned - base."""
        from fcmatch.evaluate.text_metrics import compare

        result = compare(base, tuned, resamples=options.resamples or 1000, seed=options.seed)
        return {name: {k: m[k] for k in ("difference", "ci_low", "ci_high", "p_value")}
                for name, m in result["metrics"].items()}
