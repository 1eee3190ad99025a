"""``fcmatch generate``: a model's response to every instruction of a file, resumable.

    fcmatch generate --input test.json --output runs/base/pred.jsonl --template alpaca --score

Prompts are :func:`fcmatch.tasks.instruct.prompt_text` (the Alpaca prompt or the model's chat template), so a
tuned model sees at inference what it was trained on. Decoding is :mod:`fcmatch.extract.generation`'s: greedy
(fcmatch's batched loop), beam search or sampling, as :class:`fcmatch.extract.config.GenerationSettings` says.
Every finished batch is appended and flushed to ``<output>.partial``; running the same command again keeps
what is complete and generates only the rest. The output is written in input order, with the resolved config
beside it (``pred.jsonl`` -> ``pred.config.yaml``), which a later run compares with its own before it resumes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from fcmatch.config import ConfigError, config_path, read_values, save_beside, to_dict
from fcmatch.data.formats import FormatError, atomic_write
from fcmatch.extract.config import GenerationSettings
from fcmatch.extract.generation import generate_texts
from fcmatch.extract.pipeline import partial_path
from fcmatch.instruct.config import GenerateConfig

log = logging.getLogger(__name__)

# fields that change what is generated: a run with other values must not resume from this one's output
_DECISIVE = ("input", "model", "template", "dtype", "generation")


def check_prompts(tokenizer: Any, prompts: Sequence[str]) -> None:
    """Refuse a prompt that ends with the end-of-sequence token: the model would read its answer as over.

    Raises:
        ValueError: naming the first such prompt.
    """
    eos = tokenizer.eos_token
    for i, prompt in enumerate(prompts):
        if eos and prompt.rstrip().endswith(eos):
            raise ValueError(f"prompt {i} ends with the end-of-sequence token {eos!r}; an inference prompt stops "
                             "where the answer begins")


def generate_responses(model: Any, tokenizer: Any, prompts: list[str], settings: GenerationSettings,
                       batch_size: int = 16) -> list[str]:
    """One response per prompt, in prompt order.

    Args:
        model: a causal LM (plain or peft) in eval mode, e.g. from :func:`fcmatch.models.load`.
        tokenizer: its tokenizer, with a pad token.
        prompts: templated prompt strings; encoded without special tokens (the template wrote its own) and
            never followed by an end-of-sequence token.
        settings: greedy, beam search or sampling, and the token limit.
        batch_size: prompts decoded together.

    Returns:
        The generated text of each prompt, special tokens removed.

    Raises:
        ValueError: a prompt that ends with the end-of-sequence token.
    """
    check_prompts(tokenizer, prompts)
    texts: dict[int, str] = {}
    for chunk in generate_texts(model, tokenizer, prompts, settings, batch_size):
        texts.update(chunk)
    return [texts[i] for i in range(len(prompts))]


def prediction_row(index: int, record: Any, prediction: str, reference: str) -> dict[str, Any]:
    """One line of ``pred.jsonl``; ``id`` is the record's own, else its index in the input."""
    return {"id": record.id or str(index), "index": index, "instruction": record.instruction, "input": record.input,
            "prediction": prediction, "reference": reference}


def read_partial(path: Path, records: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """Rows an interrupted run (or a finished one) already wrote, by input index.

    A last line cut off by a crash is dropped (its record is redone) and the file rewritten without it.

    Raises:
        FormatError: a complete line that is malformed or belongs to another input file.
    """
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").split("\n")
    done: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: the crash cut this line
                log.warning("%s:%d: dropping a cut-off last line; its record is redone", path, number)
                _write_rows(path, [done[i] for i in sorted(done)])
                break
            raise FormatError(f"{path}:{number}: not valid JSON; delete {path} to start over") from None
        index = row.get("index") if isinstance(row, dict) else None
        if isinstance(index, int) and index >= len(records):  # beyond a smaller --limit than the earlier run's
            continue
        if (not isinstance(index, int) or index < 0 or row.get("instruction") != records[index].instruction
                or "prediction" not in row):
            raise FormatError(f"{path}:{number}: not a prediction for record {index} of the input; {path} belongs to "
                              "another input file, delete it to start over")
        done[index] = row
    return done


def _write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with atomic_write(path) as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _check_resumable(config: GenerateConfig, output: Path) -> None:
    """A run resumes only an output that was made with the same decisive settings (read from its config file)."""
    saved = config_path(output)
    if not saved.is_file():
        return
    before, now = read_values(saved), to_dict(config)
    changed = [key for key in _DECISIVE if before.get(key) != now[key]]
    if changed:
        raise ConfigError(f"{output} was generated with other settings ({', '.join(changed)} differ, see {saved}); "
                          "delete it or choose another --output")


def _load(config: GenerateConfig) -> tuple[Any, Any]:
    from fcmatch.models import dtype_named, load

    model, tokenizer = load(config.model, dtype=dtype_named(config.dtype))
    if hasattr(model, "merge_and_unload"):
        # folding LoRA into the weights is exact up to rounding and drops the adapter's matmuls from every step
        model = model.merge_and_unload()
    return model, tokenizer


def generate(config: GenerateConfig, model: Any = None, tokenizer: Any = None) -> dict[str, Any]:
    """Run ``fcmatch generate`` end to end, resuming an interrupted run of the same command.

    Args:
        config: the run.
        model, tokenizer: an already loaded model to reuse (else loaded from ``config.model``).

    Returns:
        A summary: records, resumed, generated, seconds, records_per_s, output, config_file, and with
        ``config.score`` the headline metrics and scores_file.

    Raises:
        FileNotFoundError: a missing input file.
        FormatError: a malformed input, or a partial file from another input.
        ConfigError: an existing output made with other settings.
    """
    from fcmatch.tasks.instruct import prompt_text, read_records, reference

    records = read_records(config.input)
    if config.limit:
        records = records[: config.limit]
    output, partial = Path(config.output), partial_path(config.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if partial.exists() or output.exists():
        _check_resumable(config, output)
    # a finished earlier run counts as done too, so re-running a complete command costs nothing
    done = read_partial(partial if partial.exists() else output, records)
    start = time.perf_counter()
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    todo = [i for i in range(len(records)) if i not in done]
    if todo:
        if model is None:
            model, tokenizer = _load(config)
        prompts = [prompt_text(records[i], tokenizer, config.template) for i in todo]
        check_prompts(tokenizer, prompts)
        save_beside(config, output)  # before any row: a resumed run checks its settings against this file
        if not partial.exists():
            _write_rows(partial, [done[i] for i in sorted(done)])
        bar = tqdm(total=len(records), initial=len(done), unit="rec", desc="generate", disable=not config.progress)
        with open(partial, "a", encoding="utf-8") as sink:
            for chunk in generate_texts(model, tokenizer, prompts, config.generation, config.batch_size):
                rows = [prediction_row(todo[j], records[todo[j]], text, reference(records[todo[j]]))
                        for j, text in chunk]
                sink.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
                sink.flush()
                os.fsync(sink.fileno())
                done.update((row["index"], row) for row in rows)
                bar.update(len(rows))
        bar.close()
    seconds = time.perf_counter() - start
    _write_rows(output, [done[i] for i in range(len(records))])
    config_file = save_beside(config, output)
    partial.unlink(missing_ok=True)
    summary: dict[str, Any] = {
        "records": len(records),
        "resumed": len(records) - len(todo),
        "generated": len(todo),
        "seconds": round(seconds, 2),
        "records_per_s": round(len(todo) / seconds, 3) if todo and seconds > 0 else None,
        "output": str(output),
        "config_file": str(config_file),
    }
    log.info("generated %d responses (%d resumed) -> %s", len(todo), summary["resumed"], output)
    if config.score:
        from fcmatch.instruct.evaluate import write_scores

        scores, scores_file = write_scores(output, config.scoring)
        summary["metrics"] = {name: m["value"] for name, m in scores["metrics"].items()}
        summary["scores_file"] = str(scores_file)
    return summary
