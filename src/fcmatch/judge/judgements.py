"""Comparative-judgement data: items, comparisons, and their files.

An *item* is one labeler's causal map of one sentence; a *comparison* is one judge saying which of two
items of the same sentence is better (or that they tie). Readers cover the MATCH study layout
(``annotations/``, ``judgements/``, ``reliability/``, see ../shared/data/match/README.md) and fcmatch's
own comparison JSONL, one comparison per line::

    {"judge": "judge1", "a": "4/Human6", "b": "4/mistral", "verdict": "A", "time": "2024-05-01T12:00:00Z"}

``verdict`` is ``"A"`` (item ``a`` is better), ``"B"`` or ``"tie"``; ``time`` is optional (ISO 8601 or
null). Item ids are ``"<sentence id>/<labeler>"`` (:func:`item_id`); for MATCH the sentence id is the
study's sentence number.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcmatch.data.causal_map import CausalMap
from fcmatch.data.formats import FormatError, atomic_write, iter_jsonl, read_match_json

VERDICTS = ("A", "B", "tie")
_VERDICT_SPELLINGS = {"a": "A", "b": "B", "tie": "tie"}


def item_id(sentence_id: str | int, labeler: str) -> str:
    """Id of one labeler's map of one sentence, e.g. ``item_id(4, "Human6") == "4/Human6"``."""
    return f"{sentence_id}/{labeler}"


def sentence_of(item: str) -> str:
    """Sentence id of an item id (the part before the last ``/``); the grouping used for pairing."""
    return item.rsplit("/", 1)[0]


@dataclass(frozen=True)
class Item:
    """One labeler's causal map of one sentence."""

    id: str
    sentence_id: str
    labeler: str
    map: CausalMap


@dataclass(frozen=True)
class Comparison:
    """One verdict: ``judge`` compared items ``a`` and ``b`` and preferred ``a`` ("A"), ``b`` ("B") or neither ("tie")."""

    judge: str
    a: str
    b: str
    verdict: str
    time: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.a == self.b:
            raise ValueError(f"a comparison needs two different items, got {self.a!r} twice")

    @property
    def winner(self) -> str | None:
        """Id of the preferred item, or None for a tie."""
        return {"A": self.a, "B": self.b}.get(self.verdict)

    @property
    def loser(self) -> str | None:
        """Id of the item not preferred, or None for a tie."""
        return {"A": self.b, "B": self.a}.get(self.verdict)

    def pair(self) -> frozenset[str]:
        """The unordered pair of items."""
        return frozenset((self.a, self.b))

    def to_dict(self) -> dict[str, Any]:
        return {"judge": self.judge, "a": self.a, "b": self.b, "verdict": self.verdict, "time": self.time}


@dataclass
class JudgementData:
    """A MATCH-style study: items, the main judgements, and the shared reliability pairs.

    Attributes:
        items: item id -> :class:`Item`.
        sentences: sentence id -> sentence text.
        judgements: comparisons from ``judgements/``, in file order (judge files in natural order,
            records in key order) -- the order the paper's Elo used.
        reliability: comparisons from ``reliability/`` (every judge judged the same pairs).
        problems: what the annotation reader skipped (e.g. unknown edge directions).
    """

    items: dict[str, Item]
    sentences: dict[str, str]
    judgements: list[Comparison]
    reliability: list[Comparison] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def items_of(self, sentence_id: str) -> list[str]:
        """Ids of the items of one sentence, sorted by labeler."""
        return sorted(i for i, it in self.items.items() if it.sentence_id == sentence_id)


def _natural_key(path: Path) -> list[Any]:
    # judge10 after judge9, not after judge1
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.stem)]


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise FormatError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


def read_match_verdicts(path: str | os.PathLike, labelers: Iterable[str] | None = None) -> list[tuple[str, str, str, str]]:
    """Read one MATCH judge file (``judgements/`` or ``reliability/``).

    Args:
        path: ``judge<k>.json``, an object ``{"0": [sentence, [labelerA, labelerB], sentence_number, winner], ...}``.
        labelers: known labeler names; when given, a pair or winner naming another is an error.

    Returns:
        ``(sentence_number, labelerA, labelerB, verdict)`` per record, records in numeric key order;
        verdict is ``"A"``, ``"B"`` or ``"tie"``. The sentence text is checked to be a string but not kept.

    Raises:
        FormatError: naming the file and record key, for a malformed record, an unknown labeler, or a
            winner that is neither of the pair nor ``Tie``.
    """
    path = Path(path)
    records = _load_json(path)
    if not isinstance(records, dict):
        raise FormatError(f"{path}: expected a JSON object of records keyed by number")
    known = set(labelers) if labelers is not None else None
    out = []
    for key in sorted(records, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k)):
        rec = records[key]
        where = f"{path} record {key!r}"
        if not (isinstance(rec, list) and len(rec) == 4 and isinstance(rec[0], str) and isinstance(rec[1], list)
                and len(rec[1]) == 2 and all(isinstance(x, str) for x in rec[1]) and isinstance(rec[3], str)):
            raise FormatError(f"{where}: expected [sentence, [labelerA, labelerB], sentence_number, winner]")
        (lab_a, lab_b), number, winner = rec[1], rec[2], rec[3]
        if isinstance(number, bool) or not isinstance(number, int | str):
            raise FormatError(f"{where}: sentence number must be an integer, got {number!r}")
        if known is not None:
            for name in (lab_a, lab_b):
                if name not in known:
                    raise FormatError(f"{where}: unknown labeler {name!r}; known: {sorted(known)}")
        if lab_a == lab_b:
            raise FormatError(f"{where}: a labeler compared with itself ({lab_a!r})")
        if winner == lab_a:
            verdict = "A"
        elif winner == lab_b:
            verdict = "B"
        elif winner.strip().lower() == "tie":
            verdict = "tie"
        else:
            raise FormatError(f"{where}: unknown verdict {winner!r}; expected {lab_a!r}, {lab_b!r} or 'Tie'")
        out.append((str(number), lab_a, lab_b, verdict))
    return out


def _sentence_numbers(folder: Path) -> dict[str, str]:
    """sentence text -> sentence number, from every judge file under ``folder`` (MATCH keeps no ids elsewhere)."""
    numbers: dict[str, str] = {}
    for path in sorted(folder.glob("*.json"), key=_natural_key):
        records = _load_json(path)
        for key, rec in records.items() if isinstance(records, dict) else []:
            if isinstance(rec, list) and len(rec) == 4 and isinstance(rec[0], str):
                text, number = rec[0].strip(), str(rec[2])
                if numbers.setdefault(text, number) != number:
                    raise FormatError(f"{path} record {key!r}: sentence numbered {number}, elsewhere {numbers[text]}")
    return numbers


def read_match_study(data_dir: str | os.PathLike) -> JudgementData:
    """Read a folder with the MATCH layout (``annotations/``, ``judgements/``, optional ``reliability/``).

    Args:
        data_dir: e.g. ``../shared/data/match``.

    Returns:
        A :class:`JudgementData`; sentence ids are the study's sentence numbers (as strings).

    Raises:
        FileNotFoundError: when ``annotations/`` or ``judgements/`` is missing.
        FormatError: naming file and record, for malformed records, unknown labelers or verdicts, a
            judged sentence with no annotation, or an annotated sentence never judged.
    """
    root = Path(data_dir)
    for sub in ("annotations", "judgements"):
        if not (root / sub).is_dir():
            raise FileNotFoundError(f"{root / sub} is missing; expected the layout of ../shared/data/match")
    numbers = _sentence_numbers(root / "judgements")
    items: dict[str, Item] = {}
    sentences: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted((root / "annotations").glob("*.json"), key=_natural_key):
        for i, cmap in enumerate(read_match_json(path)):
            labeler = str(cmap.meta.get("labeler") or path.stem)
            problems += cmap.meta.get("problems", [])
            number = numbers.get(cmap.text)
            if number is None:
                raise FormatError(f"{path} record {i}: sentence {cmap.text[:60]!r}... is never judged")
            sentences[number] = cmap.text
            iid = item_id(number, labeler)
            if iid in items:
                raise FormatError(f"{path} record {i}: a second map of sentence {number} by {labeler!r}")
            items[iid] = Item(iid, number, labeler, cmap)
    labelers = {it.labeler for it in items.values()}

    def comparisons(folder: Path) -> list[Comparison]:
        out = []
        for path in sorted(folder.glob("*.json"), key=_natural_key):
            for number, lab_a, lab_b, verdict in read_match_verdicts(path, labelers):
                a, b = item_id(number, lab_a), item_id(number, lab_b)
                for iid in (a, b):
                    if iid not in items:
                        raise FormatError(f"{path}: sentence {number} has no annotation by {sentence_of(iid)!r}")
                out.append(Comparison(path.stem, a, b, verdict))
        return out

    reliability = comparisons(root / "reliability") if (root / "reliability").is_dir() else []
    return JudgementData(items, sentences, comparisons(root / "judgements"), reliability, problems)


def read_comparisons(path: str | os.PathLike, items: Iterable[str] | None = None) -> list[Comparison]:
    """Read fcmatch comparison JSONL (format in the module docstring); blank lines are skipped.

    Args:
        path: the ``.jsonl`` file.
        items: known item ids; when given, a comparison naming another is an error.

    Raises:
        FormatError: naming file and line for invalid JSON, missing fields, an unknown verdict or item.
    """
    path = Path(path)
    known = set(items) if items is not None else None
    out = []
    for where, rec in iter_jsonl(path):
        if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) for k in ("judge", "a", "b", "verdict")):
            raise FormatError(f"{where}: expected an object with string fields judge, a, b, verdict")
        verdict = _VERDICT_SPELLINGS.get(rec["verdict"].strip().lower())
        if verdict is None:
            raise FormatError(f"{where}: unknown verdict {rec['verdict']!r}; expected one of {VERDICTS}")
        if known is not None:
            for key in ("a", "b"):
                if rec[key] not in known:
                    raise FormatError(f"{where}: unknown item {rec[key]!r}")
        time = rec.get("time")
        if time is not None and not isinstance(time, str):
            raise FormatError(f"{where}: time must be an ISO 8601 string or null, got {time!r}")
        try:
            out.append(Comparison(rec["judge"], rec["a"], rec["b"], verdict, time))
        except ValueError as err:
            raise FormatError(f"{where}: {err}") from None
    return out


def write_comparisons(comparisons: Iterable[Comparison], path: str | os.PathLike) -> None:
    """Write comparisons as fcmatch JSONL (atomically: a crash leaves the old file intact)."""
    with atomic_write(path) as fh:
        for comp in comparisons:
            fh.write(json.dumps(comp.to_dict(), ensure_ascii=False) + "\n")
