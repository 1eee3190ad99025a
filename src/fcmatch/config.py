"""Typed command configs: a dataclass per command becomes its flags, its checks and a YAML file beside its output.

A command adopts it in three steps (``fcmatch/extract/config.py`` and ``fcmatch/cli/extract.py`` show them):

1. a dataclass whose fields all have defaults, each with a one-line docstring under it (the ``--help`` text);
   :func:`setting` adds command-line details (positional, flag name, choices, minimum) as field metadata,
   and a field whose type is a dataclass contributes its own fields as flags;
2. ``add_arguments(parser, Config)`` in the cli module's ``register`` and ``from_args(Config, args)`` in its
   handler, which converts the values and runs :func:`check` (the declared checks, then ``validate()``);
3. the library function the command calls ends with ``save_beside(config, output)``, so ``pred.jsonl`` gets
   ``pred.config.yaml`` and a folder gets ``config.yaml``; :func:`load_config` reads either back.

A command that also takes a YAML file passes ``read_values(file)`` as ``from_args``'s ``base``; the flags given
win over the file. Validation has one home per rule: a field's own range or choices in :func:`setting`, the
rest in the class's ``validate()``, both run by :func:`check`.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import os
import textwrap
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from fcmatch import __version__

C = TypeVar("C")
CONFIG_SUFFIX = ".config.yaml"
FOLDER_CONFIG = "config.yaml"


class ConfigError(ValueError):
    """A bad configuration value; the message names the flag."""


def setting(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    positional: bool = False,
    flag: str | None = None,
    repeat: bool = False,
    required: bool = False,
    choices: Sequence[Any] | None = None,
    minimum: float | None = None,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with command-line details; its docstring still goes on the line under it.

    Args:
        default, default_factory: as for :func:`dataclasses.field`; one of them is needed.
        positional: a positional argument instead of a ``--flag``.
        flag: the option's name when it is not ``--field-name`` (e.g. ``--measure`` for ``measures``).
        repeat: a list field given as a repeated option (``--measure a --measure b``) instead of ``--x a b``.
        required: the command line must give it, and :func:`check` rejects it empty.
        choices: allowed values (each item, for a list); checked by :func:`check`.
        minimum: smallest allowed value; checked by :func:`check`.
        metavar: the value's name in ``--help``.
    """
    meta = {"positional": positional, "flag": flag, "repeat": repeat, "required": required,
            "choices": tuple(choices) if choices is not None else None, "minimum": minimum, "metavar": metavar}
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"cli": meta})


def _meta(f: dataclasses.Field) -> dict[str, Any]:
    return f.metadata.get("cli", {})


def option_name(name: str) -> str:
    """The flag of field ``name``: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def flag_of(cls: type, name: str) -> str:
    """How the command line spells field ``name`` of ``cls``: its flag, or its name when positional."""
    meta = _meta({f.name: f for f in dataclasses.fields(cls)}[name])
    if meta.get("positional"):
        return meta.get("metavar") or name.upper()
    return meta.get("flag") or option_name(name)


def at_least(name: str, value: float, minimum: float) -> None:
    """Raise ConfigError naming ``--name`` unless ``value >= minimum``."""
    if value < minimum:
        raise ConfigError(f"{option_name(name)} must be >= {minimum:g}, got {value}")


def one_of(name: str, value: Any, choices: Sequence[Any]) -> None:
    """Raise ConfigError naming ``--name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{option_name(name)} {value!r}: choose one of {', '.join(map(str, choices))}")


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its docstring (the string literal under the field), whitespace collapsed to one line."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef)).body
    docs = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


@functools.cache
def _types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"config field {f.name!r} has no default")


def _is_config(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def convert(kind: Any, value: Any) -> Any:
    """``value`` (command-line text or a YAML value) as type ``kind``.

    Handles str, int, float, bool, ``X | None``, ``list[X]``, ``tuple[X, ...]`` and nested config dataclasses
    (from a mapping).

    Raises:
        ValueError: the value does not fit; the message says what was expected (the caller adds the flag).
    """
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(kind) if o is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            if len(options) < len(typing.get_args(kind)):
                return None
        for option in options:
            try:
                return convert(option, value)
            except ValueError:
                continue
        raise ValueError(f"expected {' or '.join(getattr(o, '__name__', str(o)) for o in options)}, got {value!r}")
    if origin in (list, tuple):
        item = typing.get_args(kind)[0]
        items = value if isinstance(value, (list, tuple)) else [value]
        converted = [convert(item, v) for v in items]
        return tuple(converted) if origin is tuple else converted
    if _is_config(kind):
        if isinstance(value, kind):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping of {kind.__name__} keys, got {value!r}")
        return _build(kind, value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.strip().lower() in ("true", "yes", "1")
        raise ValueError(f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value).strip())
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if kind is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"expected text, got {value!r}")
        return str(value)
    raise TypeError(f"unsupported config field type {kind}")


def _flat(cls: type) -> Iterator[tuple[type, dataclasses.Field, Any]]:
    """(owning class, field, type) of every command-line field; nested configs are walked into."""
    kinds = _types(cls)
    for f in dataclasses.fields(cls):
        if _is_config(kinds[f.name]):
            yield from _flat(kinds[f.name])
        else:
            yield cls, f, kinds[f.name]


def _help_text(owner: type, f: dataclasses.Field, default: Any) -> str:
    text = field_docs(owner).get(f.name)
    if not text:
        raise TypeError(f"config field {owner.__name__}.{f.name} has no docstring")
    if isinstance(default, bool):
        flag = flag_of(owner, f.name)
        text += f" [default {flag if default else '--no-' + flag[2:]}]"
    elif default not in (None, "", [], ()):
        text += f" [default {' '.join(map(str, default)) if isinstance(default, (list, tuple)) else default}]"
    return text.replace("%", "%%")  # argparse %-formats help strings


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one argument per field of config dataclass ``cls`` (nested configs flattened) to ``parser``.

    Values are converted by :func:`convert` (a bad one is an argparse error naming the flag); bools become
    ``--x/--no-x``; lists take several values (or a repeated flag with ``setting(repeat=True)``). Defaults stay
    in the dataclass: an argument not given is absent from the namespace.

    Raises:
        TypeError: a field without a default or a docstring, or an unsupported type.
    """
    for owner, f, kind in _flat(cls):
        meta, default = _meta(f), _default(f)
        help_text = _help_text(owner, f, default)
        extra: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if kind is bool:
            extra["action"] = argparse.BooleanOptionalAction
        else:
            origin = typing.get_origin(kind)
            many = origin in (list, tuple)
            item = typing.get_args(kind)[0] if many else kind
            extra["type"] = _parse_with(item)
            extra["metavar"] = meta.get("metavar") or _metavar(item, meta.get("choices"))
            if many and meta.get("repeat"):
                extra["action"] = "append"
            elif many:
                extra["nargs"] = "+"
        if meta.get("positional"):
            extra.pop("dest")
            extra["metavar"] = meta.get("metavar") or f.name.upper()
            parser.add_argument(f.name, **extra)
            continue
        parser.add_argument(meta.get("flag") or option_name(f.name), required=bool(meta.get("required")), **extra)


def _metavar(kind: Any, choices: Sequence[Any] | None) -> str:
    if choices:
        return "{" + ",".join(map(str, choices)) + "}"
    options = [o for o in typing.get_args(kind) if o is not type(None)] or [kind]
    return {int: "N", float: "X"}.get(options[0], "TEXT")


def _parse_with(kind: Any) -> Any:
    def parse(text: str) -> Any:
        try:
            return convert(kind, text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


def check(config: C) -> C:
    """Run the checks declared with :func:`setting`, then the config's own ``validate()``; returns ``config``.

    Declared checks: a ``required`` or positional field is not empty, a value is one of ``choices`` (each
    item of a list) and at least ``minimum``. ``validate()``, where the class defines one, holds the rest:
    ranges and combinations of fields. A config class calls this from ``__post_init__`` so that an
    instance is valid however it was made.

    Raises:
        ConfigError: naming the flag.
    """
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        meta, value = _meta(f), getattr(config, f.name)
        if (meta.get("required") or meta.get("positional")) and value in ("", None, [], ()):
            raise ConfigError(f"{flag_of(type(config), f.name)} is required")
        if value is None:
            continue
        if meta.get("choices") is not None:
            for v in value if isinstance(value, (list, tuple)) else [value]:
                one_of(f.name, v, meta["choices"])
        if meta.get("minimum") is not None:
            at_least(f.name, value, meta["minimum"])
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def _build(cls: type[C], values: dict[str, Any], where: str = "") -> C:
    kinds = _types(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{where}unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    converted = {}
    for key, value in values.items():
        try:
            converted[key] = convert(kinds[key], value)
        except ConfigError as err:  # from a nested config, which names its own flag
            raise ConfigError(f"{where}{err}") from None
        except ValueError as err:
            raise ConfigError(f"{where}{flag_of(cls, key)}: {err}") from None
    try:
        return check(cls(**converted))
    except ConfigError as err:
        raise ConfigError(f"{where}{err}") from None


def from_dict(cls: type[C], values: dict[str, Any], where: str = "") -> C:
    """A validated ``cls`` from a mapping (as :func:`to_dict` writes it); missing keys keep their defaults.

    Raises:
        ConfigError: unknown keys, values of the wrong type or failed checks, naming the key's flag.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"{where}expected a mapping of keys to values, got {type(values).__name__}")
    return _build(cls, values, where)


def from_args(cls: type[C], args: argparse.Namespace, base: dict[str, Any] | None = None) -> C:
    """The validated ``cls`` from a namespace parsed with :func:`add_arguments`.

    Args:
        args: the parsed command line; a field whose flag was not given keeps ``base``'s value or its default.
        base: values under the flags, as :func:`read_values` reads them from a YAML file (nested configs as
            mappings); default none.

    Raises:
        ConfigError: a value of the wrong type in ``base`` or a failed :func:`check`, naming the flag.
    """
    return _build(cls, _given(cls, vars(args), dict(base or {})))


def _given(cls: type, given: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` updated with the flags in ``given`` that belong to ``cls`` (nested configs as mappings)."""
    kinds = _types(cls)
    for f in dataclasses.fields(cls):
        if _is_config(kinds[f.name]):
            inner = _given(kinds[f.name], given, dict(values.get(f.name) or {}))
            if inner:
                values[f.name] = inner
        elif f.name in given:
            values[f.name] = given[f.name]
    return values


def to_dict(config: Any) -> dict[str, Any]:
    """``config`` as plain YAML-safe values (nested configs as mappings, tuples as lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(config))


def config_path(output: str | os.PathLike) -> Path:
    """Where :func:`save_beside` puts the config of ``output``: ``dir/config.yaml`` or ``name.config.yaml``."""
    output = Path(output)
    if output.is_dir():
        return output / FOLDER_CONFIG
    return output.with_name(output.stem + CONFIG_SUFFIX)


def save_config(config: Any, path: str | os.PathLike) -> Path:
    """Write ``config`` as YAML to ``path`` (parent folders created); returns the path."""
    from fcmatch.data.formats import atomic_write

    path = Path(path)
    header = f"# {type(config).__name__} as resolved by fcmatch {__version__}\n"
    with atomic_write(path) as handle:
        handle.write(header + yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True))
    return path


def save_beside(config: Any, output: str | os.PathLike) -> Path:
    """Write ``config`` beside ``output`` (see :func:`config_path`); returns the config file's path."""
    return save_config(config, config_path(output))


def read_values(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML config file (an empty file is an empty mapping).

    Raises:
        FileNotFoundError: no such file.
        ConfigError: invalid YAML, or YAML that is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(values).__name__}")
    return values


def load_config(cls: type[C], path: str | os.PathLike) -> C:
    """Read a config that :func:`save_config` wrote (or one written by hand) back into a validated ``cls``.

    Args:
        path: the YAML file, or an output whose :func:`config_path` holds it.

    Raises:
        FileNotFoundError: no such file.
        ConfigError: invalid YAML, unknown keys, wrong types or failed checks.
    """
    path = Path(path)
    if path.suffix not in (".yaml", ".yml") or path.is_dir():
        path = config_path(path)
    return from_dict(cls, read_values(path), f"{path}: ")
