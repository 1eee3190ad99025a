"""The configurations of ``fcmatch metacog label`` (flags) and ``fcmatch metacog study`` (a YAML file).

Both are saved beside their outputs: ``labelled.jsonl`` -> ``labelled.config.yaml``, and the study's
``config.yaml`` in its out folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcmatch.config import ConfigError, check, from_dict, read_values, setting
from fcmatch.metacog.labels import LabelRule
from fcmatch.metacog.loop import KEEP_POLICIES
from fcmatch.metacog.prompts import STYLES
from fcmatch.metacog.validator import THRESHOLD_METRICS
from fcmatch.models import DEFAULT_MODEL


@dataclass
class LabelConfig:
    """``fcmatch metacog label``: a model's answers at several temperatures, labelled CORRECT/WRONG."""

    input: str = setting("", metavar="FILE")
    """Questions: Dolly JSONL, Alpaca JSON or chat JSONL; empty = the bundled questions of --split."""
    split: str = setting("test", choices=("train", "test"))
    """Bundled split used when --input is empty."""
    output: str = setting("", required=True, metavar="FILE")
    """Labelled rows, JSONL (question, gold, prediction, label, metrics, model, temperature, seed)."""
    model: str = setting(DEFAULT_MODEL, metavar="NAME")
    """fcmatch model name, local folder, or fcmatch run folder (its adapter on its base)."""
    style: str = setting("plain", choices=STYLES)
    """Prompt: plain (the reference study's raw text) or chat (the model's chat template)."""
    temperatures: list[float] = field(default_factory=lambda: [0.0, 0.7, 1.2])
    """Decoding temperatures (0 = greedy); every question is answered at each."""
    seed: int = 0
    """Sampling seed."""
    max_new_tokens: int = setting(16, minimum=1)
    """Token limit of an answer."""
    batch_size: int = setting(32, minimum=1)
    """Prompts decoded together."""
    limit: int = setting(0, minimum=0)
    """Only the first N questions (0 = all)."""
    threads: int = setting(0, minimum=0)
    """CPU threads for torch (0 = torch's default)."""
    rule: LabelRule = field(default_factory=LabelRule)
    """The labelling rule."""
    bertscore_model: str | None = setting(None, metavar="PATH")
    """Local encoder folder for BERTScore; unset = the embedded all-MiniLM-L6-v2."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        if any(t < 0 for t in self.temperatures) or not self.temperatures:
            raise ConfigError(f"--temperatures {self.temperatures}: give at least one, each >= 0")


@dataclass
class AdapterTraining:
    """How one LoRA adapter of the study is trained (the engine's settings; see docs/training.md)."""

    epochs: float = 2.0
    """Passes over its rows."""
    lr: float = 1e-3
    """Peak AdamW learning rate."""
    batch_size: int = 8
    """Rows per optimizer step."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: float = 32.0
    """LoRA alpha (scale alpha / r)."""


@dataclass
class StudyConfig:
    """``fcmatch metacog study CONFIG.yaml``: answerer, labelled predictions, validator, EXAR and the loop."""

    out: str = "runs/metacog-demo"
    """Output folder; running again resumes (finished stages are kept)."""
    model: str = DEFAULT_MODEL
    """Base model of every adapter."""
    train_file: str = ""
    """Training questions (any instruction format); empty = the bundled train split."""
    test_file: str = ""
    """Held-out questions; empty = the bundled test split. No question may be in both."""
    limit_train: int = 0
    """Only the first N training questions (0 = all)."""
    limit_test: int = 0
    """Only the first N held-out questions (0 = all)."""
    style: str = setting("plain", choices=STYLES)
    """Prompt style of all three adapters: plain or chat."""
    temperatures: list[float] = field(default_factory=lambda: [0.0, 0.7, 1.2])
    """Temperatures of the labelled predictions."""
    max_new_tokens: int = setting(16, minimum=1)
    """Token limit of an answer."""
    batch_size: int = setting(32, minimum=1)
    """Prompts decoded (or validated) together."""
    seed: int = 0
    """Seed of training, sampling and the validation split."""
    rule: LabelRule = field(default_factory=LabelRule)
    """The labelling rule."""
    val_share: float = 0.2
    """Share of the training questions held out to choose the validator's threshold."""
    threshold_metric: str = setting("mcc", choices=THRESHOLD_METRICS)
    """What the threshold maximises on the validation questions."""
    answerer: AdapterTraining = field(default_factory=lambda: AdapterTraining(epochs=3.0))
    """Stage-zero answerer adapter."""
    validator: AdapterTraining = field(default_factory=AdapterTraining)
    """Validator adapter."""
    exar: AdapterTraining = field(default_factory=AdapterTraining)
    """EXAR adapter."""
    rounds: int = setting(2, minimum=0)
    """N: the most regenerations per question."""
    round_temperatures: list[float] = field(default_factory=lambda: [0.7, 1.0])
    """Temperature of each round (the last repeats)."""
    keep: list[str] = field(default_factory=lambda: list(KEEP_POLICIES))
    """Keep policies to report (last, best); one loop run serves all."""
    merge_combinations: list[str] = field(default_factory=lambda: ["cat", "linear"])
    """add_weighted_adapter types whose memory and speed are measured."""
    bootstrap: int = setting(1000, minimum=0)
    """Bootstrap resamples for the intervals."""
    bertscore_model: str | None = None
    """Local encoder folder for BERTScore; unset = the embedded all-MiniLM-L6-v2."""
    threads: int = setting(1, minimum=0)
    """CPU threads for torch (0 = torch's default)."""
    progress: bool = True
    """Progress bars."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        if not 0 < self.val_share < 1:
            raise ConfigError(f"val_share={self.val_share}: must be in (0, 1)")
        if self.rounds and not self.round_temperatures:
            raise ConfigError("round_temperatures: give one temperature per round (rounds > 0)")
        for policy in self.keep:
            if policy not in KEEP_POLICIES:
                raise ConfigError(f"keep: {policy!r} is not one of {', '.join(KEEP_POLICIES)}")
        if not self.temperatures:
            raise ConfigError("temperatures: give at least one")


def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> StudyConfig:
    """The study config in a YAML file, with ``overrides`` (flag values) on top.

    Raises:
        FileNotFoundError: no such file.
        ConfigError: unknown keys or bad values, naming the file and key.
    """
    values = read_values(path)
    values.update(overrides or {})
    return from_dict(StudyConfig, values, f"{path}: ")
