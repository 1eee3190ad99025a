"""Readers and writers for the three causal-map file formats, detected by extension and content.

- fcmatch JSONL (``.jsonl``): one causal map per line,
  ``{"text": ..., "edges": [{"cause", "effect", "sign": "+"|"-"}], "source": ..., "meta": {...}}``.
- causal-claims CSV (``.csv``): one row per edge, columns ``Causal claim``, ``Independent variable (coded)``,
  ``Dependent variable (coded)``, ``Relationship`` and optionally ``source``; rows are grouped by sentence.
- MATCH annotation JSON (``.json``): a list of ``{"text", "causal relations": [{"src", "tgt", "direction"}],
  "meta_data": {"labeler"}}``.

Every error names the file and the line (or record) it came from. Writers write to a temporary file and
rename it into place, so an interrupted write never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from fcmatch.data.causal_map import CausalMap, Edge, SignError, parse_sign, sign_symbol
from fcmatch.data.config import ConvertConfig

CSV_TEXT, CSV_CAUSE, CSV_EFFECT, CSV_SIGN = (
    "Causal claim",
    "Independent variable (coded)",
    "Dependent variable (coded)",
    "Relationship",
)
FORMATS = ("jsonl", "csv", "match")


class FormatError(ValueError):
    """A malformed causal-map file; the message starts with ``file:line``."""


def detect_format(path: str | os.PathLike) -> str:
    """``jsonl``, ``csv`` or ``match``, from the extension, checked against the first bytes."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    with open(path, encoding="utf-8") as handle:
        head = handle.read(4096).lstrip()
    if suffix == ".jsonl" or (head.startswith("{") and suffix != ".json"):
        return "jsonl"
    if suffix == ".json" or head.startswith("["):
        return "match"
    raise FormatError(f"{path}: cannot tell the format; use .jsonl (fcmatch), .csv (causal claims) or .json (MATCH)")


def read_maps(path: str | os.PathLike, fmt: str | None = None) -> list[CausalMap]:
    """Read causal maps from any supported file.

    Args:
        path: the file.
        fmt: ``jsonl``, ``csv`` or ``match``; detected when None.

    Raises:
        FileNotFoundError: no such file.
        FormatError: malformed content, naming file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    fmt = fmt or detect_format(path)
    readers = {"jsonl": read_jsonl, "csv": read_claims_csv, "match": read_match_json}
    if fmt not in readers:
        raise FormatError(f"{path}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return readers[fmt](path)


def _edge(cause: Any, effect: Any, sign: Any, where: str) -> Edge:
    if not isinstance(cause, str) or not isinstance(effect, str):
        raise FormatError(f"{where}: cause and effect must be text, got {cause!r} -> {effect!r}")
    try:
        return Edge(cause, effect, parse_sign(sign))
    except SignError as err:
        raise FormatError(f"{where}: {err}") from None
    except ValueError as err:
        raise FormatError(f"{where}: {err}") from None


def map_from_dict(record: Any, where: str) -> CausalMap:
    """One fcmatch JSONL record -> CausalMap (``where`` prefixes every error)."""
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise FormatError(f"{where}: expected an object with a 'text' string")
    edges = record.get("edges", [])
    if not isinstance(edges, list):
        raise FormatError(f"{where}: 'edges' must be a list")
    parsed = []
    for i, edge in enumerate(edges):
        if not isinstance(edge, dict):
            raise FormatError(f"{where}: edge {i} must be an object with cause, effect, sign")
        parsed.append(_edge(edge.get("cause"), edge.get("effect"), edge.get("sign"), f"{where} edge {i}"))
    meta = record.get("meta") or {}
    return CausalMap(record["text"], parsed, str(record.get("source") or ""), dict(meta))


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[str, Any]]:
    """Yield ``("file:line", record)`` for every non-blank line of a JSONL file.

    Raises:
        FormatError: ``file:line: not valid JSON (...)`` for a line that does not parse.
    """
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as err:
                raise FormatError(f"{where}: not valid JSON ({err.msg})") from None


def read_jsonl(path: str | os.PathLike) -> list[CausalMap]:
    """fcmatch JSONL; blank lines are skipped."""
    return [map_from_dict(record, where) for where, record in iter_jsonl(path)]


def read_claims_csv(path: str | os.PathLike) -> list[CausalMap]:
    """The causal-claims CSV: rows grouped by sentence text, exact duplicate edges dropped, source kept.

    A sentence's ``source`` is its first non-empty one; ``meta['duplicates_dropped']`` counts the
    duplicate rows removed and ``meta['rows']`` the rows read.
    """
    maps: dict[str, CausalMap] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (CSV_TEXT, CSV_CAUSE, CSV_EFFECT, CSV_SIGN) if c not in (reader.fieldnames or [])]
        if missing:
            raise FormatError(f"{path}:1: missing column(s) {missing}; found {reader.fieldnames}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            text = (row[CSV_TEXT] or "").strip()
            if not text:
                raise FormatError(f"{where}: empty '{CSV_TEXT}'")
            cmap = maps.setdefault(text, CausalMap(text, meta={"rows": 0}))
            cmap.meta["rows"] += 1
            if not cmap.source and (row.get("source") or "").strip():
                cmap.source = row["source"].strip()
            cause, effect = row[CSV_CAUSE] or "", row[CSV_EFFECT] or ""
            if not cause.strip() and not effect.strip() and not (row[CSV_SIGN] or "").strip():
                continue  # a sentence row without an edge: a sentence with no causal claim
            cmap.edges.append(_edge(cause, effect, row[CSV_SIGN], where))
    for cmap in maps.values():
        cmap.meta["duplicates_dropped"] = cmap.dedupe()
    return list(maps.values())


def read_match_json(path: str | os.PathLike) -> list[CausalMap]:
    """MATCH annotation JSON. A relation with an unknown direction is skipped and reported in
    ``meta['problems']`` (the real data has one such value); a malformed record is an error."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise FormatError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(records, list):
        raise FormatError(f"{path}: expected a JSON list of annotation records")
    maps = []
    for i, record in enumerate(records):
        where = f"{path} record {i}"
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise FormatError(f"{where}: expected an object with a 'text' string")
        labeler = (record.get("meta_data") or {}).get("labeler", "")
        cmap = CausalMap(record["text"].strip(), source=str(labeler), meta={"labeler": labeler, "problems": []})
        for j, rel in enumerate(record.get("causal relations") or []):
            try:
                cmap.edges.append(_edge(rel.get("src"), rel.get("tgt"), rel.get("direction"), f"{where} relation {j}"))
            except FormatError as err:
                cmap.meta["problems"].append(str(err))
        cmap.dedupe()
        maps.append(cmap)
    return maps


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; the result should look like any other file
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8", newline="" if "b" not in mode else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(maps: Iterable[CausalMap], path: str | os.PathLike) -> None:
    with atomic_write(path) as handle:
        for cmap in maps:
            handle.write(json.dumps(cmap.to_dict(), ensure_ascii=False) + "\n")


def write_claims_csv(maps: Iterable[CausalMap], path: str | os.PathLike) -> None:
    """One row per edge; a sentence without edges gets one row with empty edge columns."""
    with atomic_write(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", CSV_TEXT, CSV_CAUSE, CSV_EFFECT, CSV_SIGN, "sentence_id", "source"])
        row_id = 0
        for sentence_id, cmap in enumerate(maps):
            for edge in cmap.edges or [None]:
                cells = [edge.cause, edge.effect, "Positive" if edge.sign > 0 else "Negative"] if edge else ["", "", ""]
                writer.writerow([row_id, cmap.text, *cells, sentence_id, cmap.source])
                row_id += 1


def write_match_json(maps: Iterable[CausalMap], path: str | os.PathLike, labeler: str = "") -> None:
    records = [
        {
            "text": cmap.text,
            "causal relations": [
                {"src": e.cause, "tgt": e.effect, "direction": "increase" if e.sign > 0 else "decrease"} for e in cmap.edges
            ],
            "meta_data": {"labeler": labeler or cmap.meta.get("labeler") or cmap.source},
        }
        for cmap in maps
    ]
    with atomic_write(path) as handle:
        json.dump(records, handle, ensure_ascii=False, indent=1)


def write_maps(maps: Iterable[CausalMap], path: str | os.PathLike, fmt: str | None = None) -> None:
    """Write in the format named by ``fmt`` or by the extension (.jsonl, .csv, .json)."""
    suffix = Path(path).suffix.lower()
    fmt = fmt or {".csv": "csv", ".json": "match"}.get(suffix, "jsonl")
    writers = {"jsonl": write_jsonl, "csv": write_claims_csv, "match": write_match_json}
    if fmt not in writers:
        raise FormatError(f"{path}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    writers[fmt](maps, path)


def convert_file(config: ConvertConfig) -> int:
    """Run ``fcmatch data convert``: rewrite ``config.input`` as ``config.output``, the config saved beside it.

    Causal maps convert among jsonl, csv and match; instructions among alpaca, dolly and chat (an
    instruction output ending in .jsonl takes the input's format when that is a JSONL one, else needs ``--to``).

    Returns:
        The number of records (causal maps or instructions) written.

    Raises:
        FileNotFoundError, FormatError: a missing or malformed input, or an unknown output format.
        ConfigError: an output format of the other family than the input's, or none to be had for a .jsonl.
    """
    from fcmatch.config import ConfigError, save_beside
    from fcmatch.data.instructions import INSTRUCTION_FORMATS, instruction_format, read_instructions, write_instructions

    fmt = instruction_format(config.input, config.format)
    to = None if config.to == "auto" else config.to
    if fmt:
        if to is None and Path(config.output).suffix.lower() != ".json":
            to = fmt if fmt != "alpaca" else None
            if to is None:
                raise ConfigError(f"--to: name the format of {config.output}, dolly or chat (or write a .json for alpaca)")
        if to is not None and to not in INSTRUCTION_FORMATS:
            raise ConfigError(f"--to {to}: {config.input} holds instructions; choose one of {', '.join(INSTRUCTION_FORMATS)}")
        records = read_instructions(config.input, fmt)
        write_instructions(records, config.output, to)
        count = len(records)
    else:
        if to in INSTRUCTION_FORMATS:
            raise ConfigError(f"--to {to}: {config.input} holds causal maps; choose one of {', '.join(FORMATS)}")
        maps = read_maps(config.input, None if config.format == "auto" else config.format)
        write_maps(maps, config.output, to)
        count = len(maps)
    save_beside(config, config.output)
    return count


__all__ = [
    "FormatError",
    "convert_file",
    "detect_format",
    "read_maps",
    "read_jsonl",
    "iter_jsonl",
    "read_claims_csv",
    "read_match_json",
    "write_maps",
    "write_jsonl",
    "write_claims_csv",
    "write_match_json",
    "atomic_write",
    "map_from_dict",
    "sign_symbol",
]
