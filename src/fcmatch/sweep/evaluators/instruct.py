"""The instruction evaluator of a sweep: respond to each test instruction, score against its reference.

Prompts are the training task's own (``fcmatch.tasks.TASKS[task].prompt_text``: the Alpaca template for
``instruct``, the chat template for ``instruct-chat``), so a tuned model sees at inference what it was trained
on. Responses come from :func:`fcmatch.instruct.generate.generate_responses` and are scored by
:func:`fcmatch.evaluate.text_metrics.score_texts` (BLEU, ROUGE, BERTScore, exact match, token F1, each with a
bootstrap interval) under the options of ``fcmatch score``; :func:`fcmatch.evaluate.text_metrics.compare` tests
tuned against base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fcmatch.instruct.config import ScoreOptions


class InstructEvaluator:
    """Text metrics of the responses to a test file's instructions; options are ``fcmatch score``'s."""

    options = ScoreOptions

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

    def score(self, model: Any, tokenizer: Any, records: list[Any], settings: Any, options: ScoreOptions,
              folder: Path, batch_size: int = 16) -> dict[str, Any]:
        """Generate, write ``pred.jsonl`` (``fcmatch generate``'s format) into ``folder``, score.

        Returns:
            :func:`fcmatch.evaluate.text_metrics.score_texts`'s result (``{"metrics", "items", ...}``), the
            record's id in each item.
        """
        import json

        from fcmatch.data.formats import atomic_write
        from fcmatch.evaluate.text_metrics import score_texts
        from fcmatch.instruct.generate import generate_responses, prediction_row

        task = self._task()
        prompts = [task.prompt_text(record, tokenizer) for record in records]
        references = [task.reference(record) for record in records]
        responses = generate_responses(model, tokenizer, prompts, settings, batch_size)
        rows = [prediction_row(i, *triple) for i, triple in enumerate(zip(records, responses, references, strict=True))]
        with atomic_write(folder / "pred.jsonl") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        result = score_texts(responses, references, bertscore_model=options.bertscore_model,
                             bootstrap=options.bootstrap, seed=options.bootstrap_seed, with_bertscore=options.bertscore)
        for item, row in zip(result["items"], rows, strict=True):
            item["id"] = row["id"]
        return result

    def compare(self, base: dict[str, Any], tuned: dict[str, Any], options: ScoreOptions) -> dict[str, dict[str, float]]:
        """Paired bootstrap interval and permutation p-value of every metric, tuned - base."""
        from fcmatch.evaluate.text_metrics import compare

        result = compare(base, tuned, resamples=options.bootstrap or 1000, seed=options.bootstrap_seed)
        return {name: {k: m[k] for k in ("difference", "ci_low", "ci_high", "p_value")}
                for name, m in result["metrics"].items()}
