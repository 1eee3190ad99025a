"""Sign classification from the causal claims: the few-shot study's default data, offline.

Each distinct (sentence, cause, effect) edge becomes one pair record: ``text1`` = the sentence, ``text2`` =
the hypothesis "<cause> increases <effect>.", label ``yes`` if the coded relationship is positive, else ``no``.

:func:`sign_splits` cuts the study's sets out of a causal-claims folder (``train_data.csv``/``val_data.csv``):

- ``train``: the in-domain training pool (source ``ronak_patel_csv`` on the reference data) k examples come from;
- ``dev_pool``: the same pool, for dev sets of size k (checkpoint selection); disjoint from each run's k
  examples because :func:`draw_train_dev` draws both at once;
- ``test_id``: the in-domain val split;
- ``test_ood``: every other corpus (train + val), deduplicated, capped by a seeded sample;
- ``test_flip``: ``test_id`` with the hypothesis "<cause> decreases <effect>." and the label flipped. The
  sentence, cause and effect are identical, so a model that answers from lexical overlap between sentence
  and hypothesis (the HANS heuristic) gets it wrong; only reading the direction word helps.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fcmatch.data.causal_map import POSITIVE, SignError, parse_sign
from fcmatch.data.formats import CSV_CAUSE, CSV_EFFECT, CSV_SIGN, CSV_TEXT, FormatError, read_maps

YES, NO = "yes", "no"
LABELS = (YES, NO)
IN_DOMAIN = ("ronak_patel_csv",)
"""The in-domain corpus of the reference causal-claims data (80% of its rows)."""
DEMO_IN_DOMAIN = ("ecology", "public_health", "economics", "climate", "education", "agriculture")
"""The bundled demo's six large fields; its six small fields are the out-of-domain set."""


@dataclass
class ClassRecord:
    """One classification example: a text (or text pair) and its label.

    Attributes:
        text1: the premise / sentence.
        text2: the hypothesis (None for single-text tasks such as CoLA).
        label: the label name (``yes``/``no`` for sign classification).
        meta: provenance: source, sentence id, cause, effect, sign, split, ...
    """

    text1: str
    text2: str | None
    label: str
    meta: dict[str, Any] = field(default_factory=dict)


def hypothesis(cause: str, effect: str, verb: str = "increases") -> str:
    """The sign hypothesis, e.g. ``"rainfall increases crop yield."``."""
    return f"{cause} {verb} {effect}."


def _record(text: str, cause: str, effect: str, sign: int, meta: dict[str, Any]) -> ClassRecord:
    return ClassRecord(text, hypothesis(cause, effect), YES if sign == POSITIVE else NO,
                       {**meta, "cause": cause, "effect": effect, "sign": "+" if sign == POSITIVE else "-"})


def _claims_rows(path: Path, split: str) -> list[ClassRecord]:
    records = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        absent = sorted({CSV_TEXT, CSV_CAUSE, CSV_EFFECT, CSV_SIGN}.difference(reader.fieldnames or ()))
        if absent:
            raise FormatError(f"{path}:1: the causal-claims CSV needs column(s) {absent}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            text, cause, effect = ((row.get(c) or "").strip() for c in (CSV_TEXT, CSV_CAUSE, CSV_EFFECT))
            if not (text and cause and effect):
                continue  # a sentence without an edge
            try:
                sign = parse_sign((row[CSV_SIGN] or "").strip(), where)
            except SignError as err:
                raise FormatError(str(err)) from None
            sid = (row.get("final_sentence_id") or row.get("sentence_id") or "").strip()
            meta = {"source": (row.get("source") or "").strip(), "sentence_id": sid, "split": split, "where": where}
            records.append(_record(text, cause, effect, sign, meta))
    return records


def _jsonl_rows(path: Path, split: str) -> list[ClassRecord]:
    return [_record(m.text.strip(), e.cause.strip(), e.effect.strip(), e.sign,
                    {"source": m.source, "sentence_id": str(m.meta.get("id", "")), "split": split})
            for m in read_maps(path) for e in m.edges]


def dedupe(records: Sequence[ClassRecord]) -> list[ClassRecord]:
    """The first record of each distinct (sentence, cause, effect); later duplicates are dropped."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for r in records:
        key = (r.text1, r.meta.get("cause", r.text2 or ""), r.meta.get("effect", ""))
        if key not in seen:
            seen.add(key)
            kept.append(r)
    return kept


def sign_records(path: str | os.PathLike | None = None) -> list[ClassRecord]:
    """Sign-classification records, one per distinct (sentence, cause, effect) edge, train split first.

    Args:
        path: None for the bundled demo data (``train.jsonl``/``test.jsonl``, the latter as split ``val``);
            a folder with ``train_data.csv``/``val_data.csv`` (the causal-claims CSV); or one such file.

    Raises:
        FileNotFoundError: the folder has neither file.
        FormatError: a malformed row (the message names file and line).
    """
    if path is None:
        demo = resources.files("fcmatch.resources.demo")
        rows = _jsonl_rows(Path(str(demo / "train.jsonl")), "train") + _jsonl_rows(Path(str(demo / "test.jsonl")), "val")
        return dedupe(rows)
    path = Path(path)
    if path.is_file():
        read = _claims_rows if path.suffix.lower() == ".csv" else _jsonl_rows
        return dedupe(read(path, "val" if path.name.startswith(("val", "test")) else "train"))
    files = [(path / "train_data.csv", "train"), (path / "val_data.csv", "val")]
    if not any(f.is_file() for f, _ in files):
        raise FileNotFoundError(f"{path}: neither train_data.csv nor val_data.csv found")
    return dedupe([r for f, split in files if f.is_file() for r in _claims_rows(f, split)])


def flipped(records: Sequence[ClassRecord]) -> list[ClassRecord]:
    """The same edges asked the other way: "<cause> decreases <effect>." with the label flipped."""
    return [ClassRecord(r.text1, hypothesis(r.meta["cause"], r.meta["effect"], "decreases"),
                        NO if r.label == YES else YES, {**r.meta, "flipped": True}) for r in records]


def capped(records: Sequence[ClassRecord], cap: int | None, seed: int) -> list[ClassRecord]:
    """A seeded sample of at most ``cap`` records in their original order (all of them when cap is None/0)."""
    if not cap or len(records) <= cap:
        return list(records)
    keep = sorted(random.Random(seed).sample(range(len(records)), cap))
    return [records[i] for i in keep]


def sign_splits(
    folder: str | os.PathLike | None = None,
    in_domain: Sequence[str] | None = None,
    test_cap: int | None = 250,
    seed: int = 0,
) -> dict[str, list[ClassRecord]]:
    """The study's sets: ``train``, ``dev_pool``, ``test_id``, ``test_ood`` and ``test_flip`` (see the module doc).

    Args:
        folder: the causal-claims folder; None for the bundled demo data.
        in_domain: the in-domain sources; default :data:`IN_DOMAIN` (:data:`DEMO_IN_DOMAIN` for the demo).
        test_cap: the most records per test set, a seeded sample (None or 0 = all).
        seed: the seed of the test-set samples (not of the k examples).

    Raises:
        ValueError: no in-domain training record (names the sources found).
    """
    records = sign_records(folder)
    in_domain = tuple(in_domain or (DEMO_IN_DOMAIN if folder is None else IN_DOMAIN))
    inside = [r for r in records if r.meta["source"] in in_domain]
    train = [r for r in inside if r.meta["split"] == "train"]
    if not train:
        found = sorted({r.meta["source"] for r in records})
        raise ValueError(f"{folder or 'demo data'}: no training record from {list(in_domain)}; sources found: {found}")
    test_id = capped([r for r in inside if r.meta["split"] == "val"], test_cap, seed)
    train_sentences = {r.text1 for r in train}
    ood = [r for r in records if r.meta["source"] not in in_domain and r.text1 not in train_sentences]
    return {"train": train, "dev_pool": train, "test_id": test_id, "test_ood": capped(ood, test_cap, seed + 1),
            "test_flip": flipped(test_id)}


def balanced_sample(records: Sequence[ClassRecord], k: int, seed: int, labels: Sequence[str] | None = None,
                    exclude: Sequence[ClassRecord] = ()) -> list[ClassRecord]:
    """k records, k / len(labels) per label, shuffled; the same for the same seed.

    Args:
        records: the pool.
        k: how many; must be a multiple of the number of labels.
        seed: the data seed.
        labels: the labels to balance over (default: those in ``records``, sorted).
        exclude: records not to draw (by identity), e.g. the run's training examples when drawing its dev set.

    Raises:
        ValueError: k not a multiple of the number of labels, or a label with too few records.
    """
    labels = sorted({r.label for r in records}) if labels is None else list(labels)
    if not labels or k % len(labels):
        raise ValueError(f"k={k} must be a positive multiple of the number of labels ({len(labels)}: {labels})")
    skip = {id(r) for r in exclude}
    rng = random.Random(seed)
    chosen: list[ClassRecord] = []
    for label in labels:
        pool = [r for r in records if r.label == label and id(r) not in skip]
        if len(pool) < k // len(labels):
            raise ValueError(f"label {label!r} has {len(pool)} records, fewer than the {k // len(labels)} asked for")
        chosen.extend(rng.sample(pool, k // len(labels)))
    rng.shuffle(chosen)
    return chosen


def draw_train_dev(pool: Sequence[ClassRecord], k: int, seed: int) -> tuple[list[ClassRecord], list[ClassRecord]]:
    """A run's k training examples and a disjoint balanced dev set of the same size k, both from ``pool``.

    The dev set is empty when the pool has too few records left for it (only checkpoint selection ``dev`` needs it).
    """
    train = balanced_sample(pool, k, seed)
    try:
        dev = balanced_sample(pool, k, seed + 10_000, labels=sorted({r.label for r in train}), exclude=train)
    except ValueError:
        dev = []
    return train, dev
