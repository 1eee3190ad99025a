"""The training and decoding points of a sweep, and their ids.

A point's id is a readable slug of its swept values plus a hash of its resolved settings that differ from
fcmatch's defaults (``lr-0.0001_lora_r-8-3f2a9c1d``). So a rerun with a grown or reshaped grid finds the points
it finished before (same settings, same hash), a base change makes new points, and a field added to
TrainConfig or GenerationSettings with a default leaves old ids alone. The price of hashing only the
non-defaults: a changed default in fcmatch would reuse points made under the old one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcmatch.config import ConfigError
from fcmatch.sweep.config import NOT_SWEPT, SWEEP_SETS

if TYPE_CHECKING:
    from fcmatch.extract.config import GenerationSettings
    from fcmatch.sweep.config import SweepConfig
    from fcmatch.train.config import TrainConfig

IGNORED_IN_ID = (*SWEEP_SETS, "report_to", "num_threads", "log_every")
"""TrainConfig keys that do not change what a run learns, left out of its id."""


@dataclass(frozen=True)
class TrainPoint:
    """One training run of the sweep."""

    id: str
    """Folder name under points/."""
    settings: dict[str, Any]
    """The swept keys and this point's values of them."""
    values: dict[str, Any]
    """The whole resolved TrainConfig mapping, without output_dir, resume and progress."""

    def config(self, run: Path, resume: bool = False, progress: bool = True, threads: int = 0) -> TrainConfig:
        """The TrainConfig that trains this point into ``run``; ``threads`` > 0 replaces a num_threads of 0."""
        from fcmatch.train.config import from_dict

        values = {**self.values, "output_dir": str(run), "resume": resume, "progress": progress}
        if threads and not values["num_threads"]:
            values["num_threads"] = threads
        return from_dict(values)


@dataclass(frozen=True)
class DecodePoint:
    """One decoding setting, evaluated on every trained model and on the base model."""

    id: str
    """Folder name of its results under each model's folder."""
    settings: dict[str, Any]
    """The swept GenerationSettings keys and this point's values of them."""
    generation: GenerationSettings
    """The whole decoding settings."""


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(map(_text, value))
    return str(value)


def point_id(settings: dict[str, Any], values: dict[str, Any], defaults: dict[str, Any]) -> str:
    """``<slug of settings>-<8 hex digits>``: the hash covers the values that differ from ``defaults``.

    Args:
        settings: the swept keys of the point, for the readable part (at most 60 characters of it).
        values: every resolved setting of the point.
        defaults: the settings' defaults (a dataclass's fields).
    """
    changed = {k: v for k, v in sorted(values.items()) if k not in IGNORED_IN_ID and v != defaults.get(k)}
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True, default=str).encode()).hexdigest()[:8]
    slug = "_".join(f"{k}-{_text(v)}" for k, v in settings.items())
    slug = re.sub(r"[^A-Za-z0-9.+=-]+", "_", slug)[:60].strip("_.") or "base"
    return f"{slug}-{digest}"


def _train_defaults() -> dict[str, Any]:
    from fcmatch.train.config import TrainConfig

    fields = dataclasses.fields(TrainConfig)
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            for f in fields}


def _check_train_keys(keys: list[str], where: str) -> None:
    from fcmatch.train.config import TrainConfig

    known = [f.name for f in dataclasses.fields(TrainConfig)]
    for key in keys:
        if key not in known:
            raise ConfigError(f"{where}.{key}: not a TrainConfig key; known: {', '.join(known)}")
        if key in SWEEP_SETS:
            raise ConfigError(f"{where}.{key}: set by the sweep for each point (runs go to OUT/points/<id>/run)")
        if key in NOT_SWEPT:
            raise ConfigError(f"{where}.{key}: fixed within a sweep (it defines the untuned reference); "
                              f"set it in base and run one sweep per {key}")


def _combinations(grid: dict[str, list[Any]], where: str) -> list[dict[str, Any]]:
    for key, values in grid.items():
        if not values:
            raise ConfigError(f"{where}.{key}: no values; give a list of at least one")
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def train_points(config: SweepConfig) -> list[TrainPoint]:
    """The sweep's training points, in grid (or list) order; no grid and no points: the base alone.

    Raises:
        ConfigError: an unknown or fixed key, an empty value list, a bad value or two equal points, naming
            ``grid.<key>`` or ``points[i]``.
    """
    from fcmatch.train.config import from_dict

    if config.points:
        where = "points"
        for i, point in enumerate(config.points):
            if not isinstance(point, dict) or not point:
                raise ConfigError(f"points[{i}]: expected a mapping of TrainConfig keys, got {point!r}")
            _check_train_keys(list(point), f"points[{i}]")
        raw = [dict(p) for p in config.points]
        labels = [f"points[{i}]" for i in range(len(raw))]
    else:
        where = "grid"
        _check_train_keys(list(config.grid), "grid")
        raw = _combinations(config.grid, "grid") if config.grid else [{}]
        labels = [f"grid point {combo}" for combo in raw]
    swept = list(dict.fromkeys(key for point in raw for key in point))
    defaults = _train_defaults()
    found: dict[str, str] = {}
    out = []
    for point, label in zip(raw, labels, strict=True):
        try:
            resolved = from_dict({**config.base, **point, "output_dir": "points"}, label).validate().to_dict()
        except ValueError as err:
            raise ConfigError(str(err) if str(err).startswith(label) else f"{label}: {err}") from None
        values = {k: v for k, v in resolved.items() if k not in SWEEP_SETS}
        settings = {k: values[k] for k in swept}
        pid = point_id(settings, values, defaults)
        if pid in found:
            raise ConfigError(f"{where}: {found[pid]} and {label} are the same training settings")
        found[pid] = label
        out.append(TrainPoint(pid, settings, values))
    return out


def decode_points(config: SweepConfig) -> list[DecodePoint]:
    """The sweep's decoding points: every combination of ``decoding``; none given: the defaults alone.

    Raises:
        ConfigError: an unknown key, an empty value list or a bad value, prefixed with ``decoding``.
    """
    from fcmatch.config import from_dict
    from fcmatch.extract.config import GenerationSettings

    known = [f.name for f in dataclasses.fields(GenerationSettings)]
    for key in config.decoding:
        if key not in known:
            raise ConfigError(f"decoding.{key}: not a GenerationSettings key; known: {', '.join(known)}")
    combos = _combinations(config.decoding, "decoding") if config.decoding else [{}]
    defaults = dataclasses.asdict(GenerationSettings())
    out: list[DecodePoint] = []
    for combo in combos:
        generation = from_dict(GenerationSettings, combo, f"decoding point {combo}: ")
        values = dataclasses.asdict(generation)
        settings = {k: values[k] for k in config.decoding}
        pid = point_id(settings, values, defaults)
        if any(p.id == pid for p in out):
            raise ConfigError(f"decoding: two combinations resolve to the same settings {settings}")
        out.append(DecodePoint(pid, settings, generation))
    return out
