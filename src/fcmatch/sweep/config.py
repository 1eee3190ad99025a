"""The sweep file: a base training config, the training points (a grid or a list), decoding points, evaluation.

    fcmatch sweep configs/sweep-instruct.yaml

Every training value is checked through :mod:`fcmatch.train.config` and every decoding value through
:class:`fcmatch.extract.config.GenerationSettings`, so a sweep fails before it trains anything, with a message
that names the key. The schema, with an example, is in docs/sweeps.md.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcmatch.config import ConfigError, read_values

SWEEP_SETS = ("output_dir", "resume", "progress")
"""TrainConfig keys the sweep sets for each point itself (the run folder, resuming, the nested progress bar)."""
NOT_SWEPT = ("model", "task")
"""TrainConfig keys that stay fixed within a sweep: they define the untuned reference and the data's format."""
STRUCTURE = ("base", "grid", "points", "decoding", "eval")


@dataclass
class SweepConfig:
    """One sweep: what to train (a base config and its points), how to decode, what to evaluate on."""

    out: str = "runs/sweep"
    """Sweep folder: points/, base/, results.csv, plots/, report.html and sweep.config.yaml."""
    test_file: str = ""
    """Evaluation records with their references, in the format of the evaluator's task."""
    task: str = ""
    """Evaluator: instruct or causal (fcmatch.sweep.evaluators); empty = the base config's task."""
    max_test: int = 0
    """Evaluate on the first N test records only (0 = all)."""
    base: dict[str, Any] = field(default_factory=dict)
    """The base training config: TrainConfig keys inline, or the path of a train YAML; with `extends: PATH`
    inline keys override that file's."""
    grid: dict[str, list[Any]] = field(default_factory=dict)
    """TrainConfig keys to sweep, each with a list of values; every combination is a training point."""
    points: list[dict[str, Any]] = field(default_factory=list)
    """Training points one by one (instead of grid), each a mapping of TrainConfig keys over the base."""
    decoding: dict[str, list[Any]] = field(default_factory=dict)
    """GenerationSettings keys, each a value or a list of values; every combination is a decoding point."""
    eval: dict[str, Any] = field(default_factory=dict)
    """The evaluator's options (docs/sweeps.md lists them per task)."""
    batch_size: int = 16
    """Prompts decoded together."""
    threads: int = 0
    """CPU threads for torch (0 = auto: 1 when other jobs already load the cores, else torch's default); also
    each training run's, where its num_threads is 0."""
    progress: bool = True
    """Show a progress bar over the points."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check the structure and every point; resolves ``base`` to every TrainConfig key and an empty ``task``
        to the base's.

        Raises:
            ConfigError: naming the key (``grid.lrr``, ``decoding.temperature``, ``points[2]``, ...).
        """
        from fcmatch.sweep.evaluators import EVALUATORS
        from fcmatch.sweep.points import decode_points, train_points

        if not self.test_file:
            raise ConfigError("test_file is required")
        if not self.out:
            raise ConfigError("out is required")
        for key in ("max_test", "threads"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}={getattr(self, key)} must be >= 0")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size} must be >= 1")
        if self.grid and self.points:
            raise ConfigError("grid and points: give one of them (points lists the combinations a grid would make)")
        self.base = resolve_base(self.base)
        self.task = self.task or str(self.base["task"])
        if self.task not in EVALUATORS:
            raise ConfigError(f"task={self.task!r}: no evaluator; choose one of {', '.join(EVALUATORS)}")
        train_points(self)
        decode_points(self)
        self.eval_options()

    def eval_options(self) -> Any:
        """The evaluator's options dataclass built from ``eval``.

        Raises:
            ConfigError: an unknown option or a bad value, prefixed with ``eval:``.
        """
        from fcmatch.config import from_dict
        from fcmatch.sweep.evaluators import EVALUATORS

        return from_dict(EVALUATORS[self.task].options, dict(self.eval), "eval: ")

    def to_dict(self) -> dict[str, Any]:
        """Plain values, as sweep.config.yaml holds them: an unused grid, points or decoding is left out."""
        values = dataclasses.asdict(self)
        return {k: v for k, v in values.items() if v or k not in ("grid", "points", "decoding")}

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as YAML to ``path`` atomically; :func:`load_sweep` reads it back."""
        import yaml

        from fcmatch import __version__
        from fcmatch.data.formats import atomic_write

        path = Path(path)
        with atomic_write(path) as handle:
            handle.write(f"# SweepConfig as resolved by fcmatch {__version__}\n")
            handle.write(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))
        return path


def resolve_base(base: Any, where: str = "base") -> dict[str, Any]:
    """The base training config as a full mapping of TrainConfig keys (defaults filled in, values converted).

    Args:
        base: a mapping of TrainConfig keys (optionally with ``extends: PATH`` of a train YAML under them), or
            the path of a train YAML.

    Raises:
        FileNotFoundError: a named train YAML is missing.
        ConfigError: an unknown key or a bad value, naming it.
    """
    from fcmatch.train.config import from_dict

    if isinstance(base, str):
        base = {"extends": base}
    if not isinstance(base, dict):
        raise ConfigError(f"{where}: expected a mapping of TrainConfig keys or a train YAML path, got {base!r}")
    values = dict(base)
    extends = values.pop("extends", None)
    if extends is not None:
        values = {**read_values(Path(str(extends))), **values}
    for key in SWEEP_SETS:
        values.pop(key, None)
    try:
        # output_dir is set per point; a placeholder lets validation pass on a base without one
        config = from_dict({**values, "output_dir": "points"}, where).validate()
    except ValueError as err:
        raise ConfigError(str(err) if str(err).startswith(where) else f"{where}: {err}") from None
    resolved = config.to_dict()
    for key in SWEEP_SETS:
        resolved.pop(key)
    return resolved


def _mapping(values: Any, key: str) -> dict[str, Any]:
    if values is None or values == {}:
        raise ConfigError(f"{key} is empty: give at least one key with values, or leave {key} out")
    if not isinstance(values, dict):
        raise ConfigError(f"{key}: expected a mapping of keys to values, got {type(values).__name__}")
    return values


def sweep_from_dict(values: dict[str, Any], where: str = "", overrides: dict[str, Any] | None = None) -> SweepConfig:
    """A validated :class:`SweepConfig` from a mapping (a parsed sweep YAML).

    Args:
        values: the sweep file's keys.
        where: prefix of error messages (the file's name).
        overrides: scalar keys (out, max_test, threads, progress, ...) that win over ``values``.

    Raises:
        FileNotFoundError: the base names a missing train YAML.
        ConfigError: an unknown key, an empty grid, grid with points, a bad training or decoding value.
    """
    from fcmatch.config import convert

    values = {**values, **(overrides or {})}
    kinds = typing.get_type_hints(SweepConfig)
    names = [f.name for f in dataclasses.fields(SweepConfig)]
    unknown = sorted(set(values) - set(names))
    try:
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(names)}")
        built: dict[str, Any] = {}
        for key, value in values.items():
            if key == "base":
                built[key] = value  # resolved by SweepConfig.validate
            elif key in ("grid", "decoding"):
                built[key] = {k: v if isinstance(v, list) else [v] for k, v in _mapping(value, key).items()}
            elif key == "points":
                if value is not None and not isinstance(value, list):
                    raise ConfigError(f"points: expected a list of mappings of TrainConfig keys, got {value!r}")
                if not value:
                    raise ConfigError("points is empty: give a list of mappings of TrainConfig keys, or leave it out")
                built[key] = value
            elif key == "eval":
                if value is not None and not isinstance(value, dict):
                    raise ConfigError(f"eval: expected a mapping of the evaluator's options, got {value!r}")
                built[key] = dict(value or {})
            else:
                try:
                    built[key] = convert(kinds[key], value)
                except ValueError as err:
                    raise ConfigError(f"{key}: {err}") from None
        if "base" not in built:
            raise ConfigError("base is required: TrainConfig keys inline or the path of a train YAML")
        return SweepConfig(**built)
    except ConfigError as err:
        raise ConfigError(f"{where}{err}") from None


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None) -> SweepConfig:
    """Read and validate a sweep YAML; relative paths in it stay relative to the working directory.

    Raises:
        FileNotFoundError: no such sweep file, or a missing train YAML it names.
        ConfigError: as :func:`sweep_from_dict`, prefixed with the file's name.
    """
    return sweep_from_dict(read_values(path), f"{path}: ", overrides)
