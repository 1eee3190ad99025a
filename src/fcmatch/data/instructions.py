"""Instruction-tuning records: readers and writers for Alpaca JSON, Dolly JSONL and chat JSONL.

- Alpaca (``alpaca_data.json``): a JSON list of ``{"instruction", "input", "output"}``; fcmatch also reads
  and writes optional ``category`` and ``id`` keys.
- Dolly (``databricks-dolly-15k.jsonl``): one ``{"instruction", "context", "response", "category"}`` per line.
- chat: one ``{"messages": [{"role", "content"}, ...]}`` per line, an optional system message then one user
  and one assistant message; optional ``category`` and ``id`` keys beside ``messages``.

All three become :class:`Instruction`. The format is named, or detected from the first record's keys; each
reader takes a JSON list or JSONL alike, and each writer writes its format's usual layout (Alpaca a JSON
list, Dolly and chat JSONL). Every error names the file, the record (``file record N``, counted from 0, in
a JSON list; ``file:line`` in JSONL) and the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcmatch.data.formats import FormatError, atomic_write, iter_jsonl

INSTRUCTION_FORMATS = ("alpaca", "dolly", "chat")
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Instruction:
    """One instruction-tuning record, whatever file it came from."""

    instruction: str
    """What the model is asked to do."""
    input: str = ""
    """Text the instruction works on (Alpaca's ``input``, Dolly's ``context``); empty for none."""
    output: str = ""
    """The reference response (Alpaca's ``output``, Dolly's ``response``, the assistant message)."""
    category: str = ""
    """Kind of instruction (Dolly's ``category``, an extra key in fcmatch's Alpaca files); empty for none."""
    id: str = ""
    """The record's id when the file gives one."""
    system: str = ""
    """A chat record's system message; Alpaca and Dolly have no place for one."""


def user_content(record: Instruction) -> str:
    """The user turn of a record: the instruction, then a blank line and the input when there is one."""
    return f"{record.instruction}\n\n{record.input}" if record.input else record.instruction


def _text(record: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    """``record[key]`` as text; a required field must be present and not blank, an optional one defaults to ''."""
    if key not in record or (record[key] is None and not required):
        if required:
            raise FormatError(f"{where}: missing field {key!r}")
        return ""
    value = record[key]
    if not isinstance(value, str):
        raise FormatError(f"{where}: field {key!r} must be a string, got {type(value).__name__} {value!r:.60}")
    if required and not value.strip():
        raise FormatError(f"{where}: field {key!r} is empty")
    return value


def _object(record: Any, where: str, keys: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise FormatError(f"{where}: expected an object with {keys}, got {type(record).__name__}")
    return record


def _id(record: dict[str, Any], where: str) -> str:
    value = record.get("id")
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FormatError(f"{where}: field 'id' must be a string or an integer, got {type(value).__name__}")
    return str(value)


FIELDS = {"alpaca": ("instruction", "input", "output"), "dolly": ("instruction", "context", "response")}
"""The instruction, input and output keys of the two flat formats."""


def _flat_record(fmt: str, record: Any, where: str) -> Instruction:
    instruction, context, output = FIELDS[fmt]
    record = _object(record, where, f"{instruction}, {context} and {output}")
    return Instruction(
        _text(record, instruction, where),
        _text(record, context, where, required=False),
        _text(record, output, where),
        _text(record, "category", where, required=False),
        _id(record, where),
    )


def alpaca_record(record: Any, where: str) -> Instruction:
    """One Alpaca record (``input`` and ``category`` may be absent) -> Instruction; ``where`` prefixes every error."""
    return _flat_record("alpaca", record, where)


def dolly_record(record: Any, where: str) -> Instruction:
    """One Dolly record (``context`` and ``category`` may be absent) -> Instruction; ``where`` prefixes every error."""
    return _flat_record("dolly", record, where)


def chat_record(record: Any, where: str) -> Instruction:
    """One chat record -> Instruction: the user message is the instruction, the assistant's the output.

    Raises:
        FormatError: no ``messages`` list, a message without role or content, an unknown role, an empty
            content, or turns other than [system], user, assistant (multi-turn chats are not instructions).
    """
    record = _object(record, where, "a 'messages' list")
    messages = record.get("messages")
    if "messages" not in record:
        raise FormatError(f"{where}: missing field 'messages'")
    if not isinstance(messages, list) or not messages:
        raise FormatError(f"{where}: field 'messages' must be a non-empty list of {{role, content}} objects")
    for i, message in enumerate(messages):
        at = f"{where} messages[{i}]"
        message = _object(message, at, "role and content")
        role = _text(message, "role", at)
        if role not in ROLES:
            raise FormatError(f"{at}: unknown role {role!r}; expected one of {', '.join(ROLES)}")
        _text(message, "content", at, required=role != "system")
    roles = [m["role"] for m in messages]
    system = (messages[0].get("content") or "") if roles[0] == "system" else ""
    turns = messages[1:] if roles[0] == "system" else messages
    if [m["role"] for m in turns] != ["user", "assistant"]:
        raise FormatError(f"{where}: field 'messages' must be an optional system message, then one user and one "
                          f"assistant message; got roles {roles}")
    return Instruction(turns[0]["content"], "", turns[1]["content"], _text(record, "category", where, required=False),
                       _id(record, where), system)


READERS: dict[str, Callable[[Any, str], Instruction]] = {
    "alpaca": alpaca_record, "dolly": dolly_record, "chat": chat_record,
}


def _is_json_list(path: Path) -> bool:
    with open(path, encoding="utf-8") as handle:
        return handle.read(4096).lstrip().startswith("[")


def iter_records(path: str | os.PathLike) -> Iterator[tuple[str, Any]]:
    """Yield ``(where, record)`` for every record of a JSON list (``file record N``) or a JSONL file (``file:line``).

    Raises:
        FormatError: invalid JSON, naming the line.
    """
    path = Path(path)
    if not _is_json_list(path):
        yield from iter_jsonl(path)
        return
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise FormatError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    for i, record in enumerate(records):
        yield f"{path} record {i}", record


def _first_record(path: Path) -> Any:
    """The first record of a JSON list or JSONL file without parsing the rest; None when there is none."""
    text = path.read_text(encoding="utf-8")
    start = len(text) - len(text.lstrip())
    try:
        if text.startswith("[", start):
            rest = text[start + 1:]
            offset = len(rest) - len(rest.lstrip())
            return json.JSONDecoder().raw_decode(rest, offset)[0] if rest.lstrip()[:1] not in ("", "]") else None
        line = next((line for line in text[start:].splitlines() if line.strip()), "")
        return json.loads(line) if line else None
    except json.JSONDecodeError:
        return None


def detect_instruction_format(path: str | os.PathLike) -> str | None:
    """``alpaca``, ``dolly`` or ``chat`` from the first record's keys; None for any other file (causal maps).

    ``messages`` means chat; ``instruction`` with ``response`` or ``context`` means Dolly; ``instruction``
    otherwise means Alpaca.
    """
    path = Path(path)
    if path.suffix.lower() not in (".json", ".jsonl"):
        return None
    first = _first_record(path)
    if not isinstance(first, dict):
        return None
    if "messages" in first:
        return "chat"
    if "instruction" in first:
        return "dolly" if "response" in first or "context" in first else "alpaca"
    return None


def instruction_format(path: str | os.PathLike, fmt: str = "auto") -> str | None:
    """The instruction format of ``path``: ``fmt`` when it names one, detected when ``auto``, else None.

    Raises:
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if fmt in INSTRUCTION_FORMATS:
        return fmt
    return detect_instruction_format(path) if fmt == "auto" else None


def read_instructions(path: str | os.PathLike, fmt: str | None = None) -> list[Instruction]:
    """Read an Alpaca, Dolly or chat file.

    Args:
        path: the file (a JSON list or JSONL, in any of the three formats).
        fmt: ``alpaca``, ``dolly`` or ``chat``; detected from the first record when None.

    Raises:
        FileNotFoundError: no such file.
        FormatError: an unknown format or malformed content, naming file, record and field.
    """
    path = Path(path)
    fmt = instruction_format(path, fmt or "auto")
    if fmt is None:
        raise FormatError(f"{path}: not an instruction file: its first record has neither 'instruction' "
                          f"(Alpaca, Dolly) nor 'messages' (chat); name the format, one of {', '.join(INSTRUCTION_FORMATS)}")
    if fmt not in READERS:
        raise FormatError(f"{path}: unknown instruction format {fmt!r}; choose one of {', '.join(INSTRUCTION_FORMATS)}")
    return [READERS[fmt](record, where) for where, record in iter_records(path)]


def _extras(record: Instruction) -> dict[str, str]:
    return {k: v for k, v in (("category", record.category), ("id", record.id)) if v}


def _no_system(record: Instruction, where: str, fmt: str) -> None:
    if record.system:
        raise FormatError(f"{where}: {fmt} has no field for the chat's system message; write chat instead")


def alpaca_dict(record: Instruction) -> dict[str, str]:
    """The Alpaca record of ``record``, with ``category`` and ``id`` when set."""
    return {"instruction": record.instruction, "input": record.input, "output": record.output, **_extras(record)}


def dolly_dict(record: Instruction) -> dict[str, str]:
    """The Dolly record of ``record`` (``category`` always written, as in Dolly; ``id`` when set)."""
    out = {"instruction": record.instruction, "context": record.input, "response": record.output,
           "category": record.category}
    return {**out, **({"id": record.id} if record.id else {})}


def chat_dict(record: Instruction) -> dict[str, Any]:
    """The chat record of ``record``: [system], user (:func:`user_content`), assistant; ``category``, ``id`` when set.

    The instruction and input become one user message, so chat -> Alpaca gives back an empty ``input``.
    """
    messages = [{"role": "system", "content": record.system}] if record.system else []
    messages += [{"role": "user", "content": user_content(record)}, {"role": "assistant", "content": record.output}]
    return {"messages": messages, **_extras(record)}


def write_instructions(records: Iterable[Instruction], path: str | os.PathLike, fmt: str | None = None) -> None:
    """Write records as Alpaca (a JSON list), Dolly or chat (JSONL), replacing ``path`` atomically.

    Args:
        fmt: ``alpaca``, ``dolly`` or ``chat``; None means Alpaca for a ``.json`` path.

    Raises:
        FormatError: no format for a path other than .json, an unknown format, or a system message
            (only chat can hold one), naming the record.
    """
    path = Path(path)
    fmt = fmt or ("alpaca" if path.suffix.lower() == ".json" else None)
    if fmt not in INSTRUCTION_FORMATS:
        raise FormatError(f"{path}: name the instruction format to write, one of {', '.join(INSTRUCTION_FORMATS)}")
    records = list(records)
    if fmt != "chat":
        for i, record in enumerate(records):
            _no_system(record, f"{path} record {i}", fmt)
    with atomic_write(path) as handle:
        if fmt == "alpaca":
            handle.write(json.dumps([alpaca_dict(r) for r in records], ensure_ascii=False, indent=2) + "\n")
        else:
            to_dict = dolly_dict if fmt == "dolly" else chat_dict
            handle.writelines(json.dumps(to_dict(r), ensure_ascii=False) + "\n" for r in records)


__all__ = [
    "INSTRUCTION_FORMATS",
    "Instruction",
    "alpaca_dict",
    "alpaca_record",
    "chat_dict",
    "chat_record",
    "detect_instruction_format",
    "dolly_dict",
    "dolly_record",
    "instruction_format",
    "iter_records",
    "read_instructions",
    "user_content",
    "write_instructions",
]
