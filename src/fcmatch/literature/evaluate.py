"""``fcmatch lit evaluate``: citation answers scored against the test pairs, and a retrieval baseline.

    fcmatch generate --input lit/pairs/test.json --output lit/base.jsonl
    fcmatch lit evaluate lit/pairs --predictions lit/base.jsonl --out lit/scores.json

Per answer, with G the reference's DOIs and P the DOIs the answer gives, in order, each once:

- ``any_of``: P and G share a DOI; ``all_of``: every DOI of G is in P;
- ``recall@k``: |P[:k] & G| / |G|;
- hallucinated DOIs: those in P that are malformed or not among the known works (``works.jsonl``, every DOI
  the corpus's references name); reported per DOI given (``hallucinated_doi_rate``) and per answer;
- ``title_year_consistency``: of the answer lines whose DOI is known, the share whose title (rapidfuzz
  ratio >= 90 after normalisation) and year agree with that work's.

The retrieval baseline embeds the training inputs and each test input with MiniLM
(:func:`fcmatch.evaluate.encoder.embed`), takes the ``k`` nearest training sentences and answers with their
cited works, nearest first, each once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from fcmatch.config import save_beside
from fcmatch.data.formats import FormatError, atomic_write, iter_jsonl
from fcmatch.data.instructions import Instruction, read_instructions
from fcmatch.literature.config import EvaluateConfig
from fcmatch.literature.crossref import title_similarity
from fcmatch.literature.document import read_records
from fcmatch.literature.doi import find_dois, is_valid_doi, normalize_doi

KS = (1, 3, 5, 10)
_DOI_TOKEN = re.compile(r"doi\s*:\s*(\S+)|\b(10\.\S+)", re.IGNORECASE)
_LINE = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4}|n\.d\.)\)\s*,?\s*doi\s*:", re.IGNORECASE)


def answer_dois(text: str) -> list[str]:
    """The DOIs an answer gives, in order, each once, malformed ones included (normalised as far as they go)."""
    out: list[str] = []
    for match in _DOI_TOKEN.finditer(text):
        doi = normalize_doi(match.group(1) or match.group(2))
        if doi and doi not in out:
            out.append(doi)
    return out


def score_answer(prediction: str, reference: str, works: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The per-answer measures (see the module docstring); ``works`` maps DOI -> {title, year}."""
    gold = find_dois(reference)
    given = answer_dois(prediction)
    hallucinated = [d for d in given if not is_valid_doi(d) or d not in works]
    row: dict[str, Any] = {"gold": gold, "given": given, "hallucinated": hallucinated,
                           "any_of": bool(set(given) & set(gold)), "all_of": bool(gold) and set(gold) <= set(given)}
    for k in KS:
        row[f"recall@{k}"] = len(set(given[:k]) & set(gold)) / len(gold) if gold else 0.0
    checked = consistent = 0
    for line in prediction.splitlines():
        dois = answer_dois(line)
        match = _LINE.match(line.strip())
        if not dois or dois[0] not in works or not match:
            continue
        work = works[dois[0]]
        checked += 1
        year_ok = match.group("year") == str(work.get("year")) or (match.group("year") == "n.d." and not work.get("year"))
        consistent += year_ok and title_similarity(match.group("title"), work.get("title") or "") >= 90
    row["checked_lines"], row["consistent_lines"] = checked, consistent
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over answers, and the hallucination rates."""
    n = len(rows)
    given = sum(len(r["given"]) for r in rows)
    checked = sum(r["checked_lines"] for r in rows)
    out: dict[str, Any] = {"answers": n}
    for key in ("any_of", "all_of", *(f"recall@{k}" for k in KS)):
        out[key] = sum(float(r[key]) for r in rows) / n if n else None
    out["dois_given"] = given
    out["hallucinated_doi_rate"] = sum(len(r["hallucinated"]) for r in rows) / given if given else 0.0
    out["answers_with_hallucination"] = sum(bool(r["hallucinated"]) for r in rows) / n if n else None
    out["answers_without_doi"] = sum(not r["given"] for r in rows) / n if n else None
    out["title_year_consistency"] = sum(r["consistent_lines"] for r in rows) / checked if checked else None
    if n:
        out["ci"] = intervals(rows)
    return out


def _ratio(sums: np.ndarray, n: int) -> np.ndarray:
    return sums[:, 0] / np.maximum(sums[:, 1], 1)


def intervals(rows: list[dict[str, Any]], resamples: int = 1000, seed: int = 0) -> dict[str, list[float]]:
    """95% percentile bootstrap intervals over answers (seeded, the same resamples for every figure):
    the per-answer means and the hallucinated-DOI rate (hallucinated over given, both resampled)."""
    from fcmatch.evaluate.bootstrap import bootstrap_interval

    def ci(values: Any, **kw: Any) -> list[float]:
        got = bootstrap_interval(values, resamples=resamples, seed=seed, **kw)
        return [got["ci_low"], got["ci_high"]]

    out = {key: ci([float(r[key]) for r in rows]) for key in ("any_of", "all_of", *(f"recall@{k}" for k in KS))}
    out["answers_with_hallucination"] = ci([float(bool(r["hallucinated"])) for r in rows])
    out["hallucinated_doi_rate"] = ci([[len(r["hallucinated"]), len(r["given"])] for r in rows], statistic=_ratio)
    return out


def read_predictions(path: str | Path) -> dict[str, str]:
    """id -> prediction from a ``fcmatch generate`` JSONL (or any JSONL with ``id`` and ``prediction``).

    Raises:
        FormatError: a line without them, naming file and line.
    """
    out = {}
    for where, row in iter_jsonl(path):
        if not isinstance(row, dict) or "prediction" not in row or "id" not in row:
            raise FormatError(f"{where}: expected an object with 'id' and 'prediction'")
        out[str(row["id"])] = str(row["prediction"])
    return out


def retrieval_answers(train: list[Instruction], test: list[Instruction], k: int,
                      encoder: str | None = None) -> dict[str, str]:
    """The baseline's answer per test id: the cited works of the ``k`` most similar training inputs."""
    from fcmatch.evaluate.encoder import embed

    if not train:
        return {r.id: "" for r in test}
    train_vectors = embed([r.input for r in train], encoder)
    test_vectors = embed([r.input for r in test], encoder)
    answers = {}
    for record, vector in zip(test, test_vectors, strict=True):
        order = np.argsort(-(train_vectors @ vector), kind="stable")[:k]
        lines: dict[str, str] = {}
        for i in order:
            for line in train[i].output.splitlines():
                doi = next(iter(answer_dois(line)), line)
                lines.setdefault(doi, line)
        answers[record.id] = "\n".join(lines.values())
    return answers


def evaluate_citations(config: EvaluateConfig) -> dict[str, Any]:
    """Run ``fcmatch lit evaluate``: score each predictions file (and the baseline) on the test pairs.

    Returns:
        system name -> :func:`summarise` of its answers; also written to ``--out`` with per-answer rows.

    Raises:
        FileNotFoundError: a missing pairs folder or predictions file.
        FormatError: a predictions file that lacks answers for some test records, naming it.
    """
    pairs = Path(config.pairs)
    test = read_instructions(pairs / "test.json")
    works = {w["doi"]: w for w in read_records(pairs / "works.jsonl")}
    systems: dict[str, dict[str, str]] = {}
    out = Path(config.out)
    if config.baseline:
        answers = retrieval_answers(read_instructions(pairs / "train.json"), test, config.k, config.encoder)
        systems["retrieval"] = answers
        with atomic_write(out.with_name(out.stem + ".retrieval.jsonl")) as handle:
            for i, r in enumerate(test):
                handle.write(json.dumps({"id": r.id, "index": i, "prediction": answers[r.id],
                                         "reference": r.output}) + "\n")
    for path in config.predictions:
        predictions = read_predictions(path)
        missing = [r.id for r in test if r.id not in predictions]
        if missing:
            raise FormatError(f"{path}: no prediction for {len(missing)} test record(s), e.g. {missing[0]}")
        systems[Path(path).stem] = predictions
    report: dict[str, Any] = {"test_records": len(test), "known_works": len(works), "systems": {}, "rows": {}}
    for name, answers in systems.items():
        rows = [{"id": r.id, **score_answer(answers[r.id], r.output, works)} for r in test]
        report["systems"][name] = summarise(rows)
        report["rows"][name] = rows
    with atomic_write(out) as handle:
        json.dump(report, handle, indent=1)
    save_beside(config, out)
    return report["systems"]
