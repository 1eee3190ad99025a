"""``fcmatch score``: text metrics of ``fcmatch generate``'s predictions, and a paired test against a base model.

    fcmatch score runs/tuned/pred.jsonl --base runs/base/pred.jsonl

Scores come from :func:`fcmatch.evaluate.text_metrics.score_texts` (corpus and sentence BLEU, ROUGE-1/2/L,
BERTScore P/R/F1, exact match, token F1, each with a 95% bootstrap interval over the records) and the test
from :func:`fcmatch.evaluate.text_metrics.compare` (paired bootstrap interval, paired permutation p-value).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fcmatch.config import save_beside
from fcmatch.data.formats import FormatError, atomic_write, iter_jsonl
from fcmatch.instruct.config import ScoreConfig, ScoreOptions, scores_path


def read_predictions(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a ``pred.jsonl``.

    Raises:
        FileNotFoundError: no such file.
        FormatError: a line that is not JSON, lacks ``prediction`` or ``reference``, or repeats an id.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such prediction file")
    rows, seen = [], set()
    for where, row in iter_jsonl(path):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("prediction", "reference")):
            raise FormatError(f"{where}: expected an object with string fields 'prediction' and 'reference'")
        key = str(row.get("id", len(rows)))
        if key in seen:
            raise FormatError(f"{where}: id {key!r} appears twice")
        seen.add(key)
        rows.append({**row, "id": key})
    return rows


def evaluate_predictions(
    pred_path: str | os.PathLike,
    base_path: str | os.PathLike | None = None,
    *,
    bertscore_model: str | os.PathLike | None = None,
    with_bertscore: bool = True,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score a ``pred.jsonl`` against its references, and test it against a base model's predictions.

    Args:
        pred_path: predictions of the system under test (``fcmatch generate``'s output).
        base_path: a base model's predictions for the same records (matched by id); adds ``compare``.
        bertscore_model: local encoder folder for BERTScore; default the embedded all-MiniLM-L6-v2.
        with_bertscore: False skips BERTScore.
        bootstrap: resamples for the intervals and the paired test (0: no intervals; the test then uses 1000).
        seed: bootstrap and permutation seed.

    Returns:
        :func:`fcmatch.evaluate.text_metrics.score_texts`'s result with ``pred``, the record ``id`` in every
        item, and with a base, ``base`` (its scores without items) and ``compare`` (tested as PRED - BASE).

    Raises:
        FileNotFoundError, FormatError: a missing or malformed file.
        ValueError: the base predictions are not for the same records or references.
    """
    from fcmatch.evaluate.text_metrics import compare, score_texts

    def scored(rows: list[dict[str, Any]]) -> dict[str, Any]:
        result = score_texts([r["prediction"] for r in rows], [r["reference"] for r in rows],
                             bertscore_model=bertscore_model, bootstrap=bootstrap, seed=seed,
                             with_bertscore=with_bertscore)
        for item, row in zip(result["items"], rows, strict=True):
            item["id"] = row["id"]
        return result

    rows = read_predictions(pred_path)
    result = {"pred": str(pred_path), **scored(rows)}
    if base_path is not None:
        by_id = {r["id"]: r for r in read_predictions(base_path)}
        missing = [r["id"] for r in rows if r["id"] not in by_id]
        if missing or len(by_id) != len(rows):
            raise ValueError(f"{base_path} does not hold the records of {pred_path} "
                             f"({len(by_id)} vs {len(rows)} records; ids missing: {missing[:5]})")
        base_rows = [by_id[r["id"]] for r in rows]
        changed = [r["id"] for r, b in zip(rows, base_rows, strict=True) if r["reference"] != b["reference"]]
        if changed:
            raise ValueError(f"{base_path} and {pred_path} have other references for ids {changed[:5]}")
        base = scored(base_rows)
        result["base"] = {"pred": str(base_path), **{k: v for k, v in base.items() if k != "items"}}
        result["compare"] = compare(base, result, resamples=bootstrap or 1000, seed=seed)
    return result


def write_scores(pred_path: str | os.PathLike, options: ScoreOptions, base_path: str | os.PathLike | None = None,
                 out: str | os.PathLike | None = None) -> tuple[dict[str, Any], Path]:
    """:func:`evaluate_predictions` with ``options``, written as JSON to ``out`` (default ``<pred stem>.scores.json``).

    Returns:
        (the result, the file written).
    """
    result = evaluate_predictions(pred_path, base_path, bertscore_model=options.bertscore_model,
                                  with_bertscore=options.bertscore, bootstrap=options.bootstrap,
                                  seed=options.bootstrap_seed)
    path = Path(out) if out else scores_path(pred_path)
    with atomic_write(path) as handle:
        json.dump(result, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    return result, path


def score(config: ScoreConfig) -> dict[str, Any]:
    """Run ``fcmatch score``: write the scores and, beside them, the resolved config.

    Returns:
        The result of :func:`evaluate_predictions`, with ``out`` and ``config_file``.
    """
    result, path = write_scores(config.pred, config.scoring, config.base, config.out_path)
    return {**result, "out": str(path), "config_file": str(save_beside(config, path))}


def format_table(result: dict[str, Any]) -> str:
    """The headline metrics as a text table: value and interval, and with a base, the paired test."""
    lines = [f"{result['pred']}: {result['n']} records"]
    tested = result.get("compare", {}).get("metrics", {})
    header = f"{'metric':<20} {'value':>7}  {'95% interval':<17}"
    lines.append(header + (f" {'base':>7} {'diff':>8}  {'p':>6}" if tested else ""))
    for name, m in result["metrics"].items():
        ci = f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]" if m["ci_low"] is not None else ""
        line = f"{name:<20} {m['value']:>7.3f}  {ci:<17}"
        if name in tested:
            t = tested[name]
            line += f" {t['a']:>7.3f} {t['difference']:>+8.3f}  {t['p_value']:>6.3f}"
        lines.append(line)
    if result.get("bertscore_model"):
        lines.append(f"BERTScore encoder: {result['bertscore_model']}")
    return "\n".join(lines)
