"""The configurations of ``fcmatch data stats|convert|split`` (each field is a flag).

Each takes causal-map files (fcmatch JSONL, claims CSV, MATCH JSON) and instruction files (Alpaca, Dolly,
chat); ``--format auto`` tells them apart by extension and by the first record's keys.

``convert`` writes its resolved config beside the converted file (``maps.csv`` -> ``maps.config.yaml``);
``stats`` only prints, and ``split`` keeps its output folder to the split files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fcmatch.config import ConfigError, check, setting

FILE_FORMATS = ("auto", "jsonl", "csv", "match", "alpaca", "dolly", "chat")


def check_fractions(fractions: Sequence[float]) -> None:
    """Raise ConfigError naming ``--fractions`` unless they are positive and sum to 1."""
    if not fractions or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"--fractions must be positive and sum to 1, got {list(fractions)}")


@dataclass
class StatsConfig:
    """Counts of a causal-map file (sentences, edges, signs, sources) or an instruction file (records,
    categories, length percentiles), and token lengths."""

    file: str = setting("", positional=True)
    """Causal maps (.jsonl, .csv, .json) or instructions (Alpaca .json, Dolly or chat .jsonl)."""
    format: str = setting("auto", choices=FILE_FORMATS)
    """The file's format; auto = from the extension and the first record's keys."""
    json: bool = False
    """Print one JSON object instead of one line per figure."""
    tokens: bool = True
    """Count token lengths (--no-tokens skips loading a tokenizer)."""
    tokenizer: str = setting("smollm2-135m-instruct", metavar="NAME")
    """Model whose tokenizer counts tokens."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class ConvertConfig:
    """Convert causal maps, or instructions, between formats, chosen by the files' extensions or named."""

    input: str = setting("", positional=True)
    """Causal maps (.jsonl, .csv, .json) or instructions (Alpaca .json, Dolly or chat .jsonl) to read."""
    output: str = setting("", positional=True)
    """File to write: .jsonl (fcmatch), .csv (causal claims) or .json (MATCH); for instructions see --to."""
    format: str = setting("auto", choices=FILE_FORMATS)
    """The input's format; auto = from the extension and the first record's keys."""
    to: str = setting("auto", choices=FILE_FORMATS)
    """The output's format; auto = from its extension (instructions: .json Alpaca, .jsonl the input's JSONL format)."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class SplitConfig:
    """Seeded split of a causal-map file by sentence (no sentence text in two splits) or by source, or of an
    instruction file by record (no instruction and input in two splits), optionally stratified by category."""

    input: str = setting("", positional=True)
    """Causal maps (.jsonl, .csv, .json) or instructions (Alpaca .json, Dolly or chat .jsonl) to split."""
    format: str = setting("auto", choices=FILE_FORMATS)
    """The input's format; auto = from the extension and the first record's keys."""
    by: str = setting("sentence", choices=("sentence", "source"))
    """Split by sentence (fractions; for instructions, by record) or by source (test_sources held out)."""
    stratify: str = setting("none", choices=("none", "category"))
    """Instructions only: category = cut each category by the fractions, so every split keeps its share."""
    fractions: list[float] = setting(default_factory=lambda: [0.8, 0.2])
    """With --by sentence: the splits' shares of the distinct sentences, positive, summing to 1."""
    names: list[str] = setting(default_factory=list)
    """Split names; none given = train val [test] (by sentence) or in_domain out_of_domain (by source)."""
    test_sources: list[str] = setting(default_factory=list)
    """With --by source: the held-out sources."""
    seed: int = 0
    """Shuffle seed of --by sentence."""
    out_dir: str = setting(".", metavar="DIR")
    """Folder for the <name>.jsonl files (<name>.json for Alpaca input)."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        """The checks beyond those declared on the fields (run by :func:`fcmatch.config.check`).

        Raises:
            ConfigError: naming the flag.
        """
        if self.by == "sentence":
            check_fractions(self.fractions)
        elif not self.test_sources:
            raise ConfigError("--by source needs --test-sources NAME [NAME ...]")
        elif self.stratify != "none":
            raise ConfigError("--stratify goes with --by sentence; --by source holds whole sources out")
        if self.names and len(self.names) != len(self.default_names()):
            raise ConfigError(f"--names needs {len(self.default_names())} names, got {self.names}")

    def default_names(self) -> list[str]:
        """The split names used when ``names`` is empty."""
        if self.by == "source":
            return ["in_domain", "out_of_domain"]
        parts = len(self.fractions)
        return ["train", "val", "test"][:parts] if parts <= 3 else [f"part{i}" for i in range(parts)]
