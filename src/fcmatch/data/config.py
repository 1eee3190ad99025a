"""The configurations of ``fcmatch data stats|convert|split`` (each field is a flag).

``convert`` writes its resolved config beside the converted file (``maps.csv`` -> ``maps.config.yaml``);
``stats`` only prints, and ``split`` keeps its output folder to the split files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fcmatch.config import ConfigError, check, setting


def check_fractions(fractions: Sequence[float]) -> None:
    """Raise ConfigError naming ``--fractions`` unless they are positive and sum to 1."""
    if not fractions or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"--fractions must be positive and sum to 1, got {list(fractions)}")


@dataclass
class StatsConfig:
    """Counts of sentences, edges, signs, sources and token lengths of a causal-map file."""

    file: str = setting("", positional=True)
    """Causal maps: .jsonl, .csv or .json."""
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
    """Convert causal maps between formats, chosen by the files' extensions."""

    input: str = setting("", positional=True)
    """Causal maps to read: .jsonl, .csv or .json."""
    output: str = setting("", positional=True)
    """File to write: .jsonl (fcmatch), .csv (causal claims) or .json (MATCH)."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class SplitConfig:
    """Seeded split of a causal-map file by sentence (no sentence text in two splits) or by source."""

    input: str = setting("", positional=True)
    """Causal maps to split: .jsonl, .csv or .json."""
    by: str = setting("sentence", choices=("sentence", "source"))
    """Split by sentence (fractions) or by source (test_sources held out)."""
    fractions: list[float] = setting(default_factory=lambda: [0.8, 0.2])
    """With --by sentence: the splits' shares of the distinct sentences, positive, summing to 1."""
    names: list[str] = setting(default_factory=list)
    """Split names; none given = train val [test] (by sentence) or in_domain out_of_domain (by source)."""
    test_sources: list[str] = setting(default_factory=list)
    """With --by source: the held-out sources."""
    seed: int = 0
    """Shuffle seed of --by sentence."""
    out_dir: str = setting(".", metavar="DIR")
    """Folder for the <name>.jsonl files."""

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
        if self.names and len(self.names) != len(self.default_names()):
            raise ConfigError(f"--names needs {len(self.default_names())} names, got {self.names}")

    def default_names(self) -> list[str]:
        """The split names used when ``names`` is empty."""
        if self.by == "source":
            return ["in_domain", "out_of_domain"]
        parts = len(self.fractions)
        return ["train", "val", "test"][:parts] if parts <= 3 else [f"part{i}" for i in range(parts)]
