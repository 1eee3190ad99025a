"""The configurations of ``fcmatch generate`` and ``fcmatch score`` (each field is a flag).

``fcmatch generate`` writes its config beside its predictions (``pred.jsonl`` -> ``pred.config.yaml``),
``fcmatch score`` beside its scores (``pred.scores.json`` -> ``pred.scores.config.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fcmatch.config import check, setting
from fcmatch.evaluate.bootstrap import DEFAULT_RESAMPLES
from fcmatch.extract.config import GenerationSettings
from fcmatch.models import DEFAULT_MODEL, DTYPES
from fcmatch.tasks.instruct import TEMPLATES


@dataclass
class ScoreOptions:
    """How predictions are scored against their references."""

    bertscore: bool = True
    """Include BERTScore (loads the encoder, a few seconds)."""
    bertscore_model: str | None = setting(None, metavar="PATH")
    """Local encoder folder for BERTScore; unset = the embedded all-MiniLM-L6-v2 (its values are not comparable
    with roberta-large's)."""
    bootstrap: int = setting(DEFAULT_RESAMPLES, minimum=0)
    """Bootstrap resamples of the records for the 95% intervals and the paired test (0: no intervals)."""
    bootstrap_seed: int = 0
    """Seed of the bootstrap and permutation draws."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class GenerateConfig:
    """One generation run: which model answers which instructions, with which prompt and decoding."""

    input: str = setting("", required=True, metavar="FILE")
    """Instructions: Alpaca JSON, Dolly JSONL or chat JSONL (the format is detected)."""
    output: str = setting("", required=True, metavar="FILE")
    """Predictions, JSONL: id, index, instruction, input, prediction, reference per record. Re-run to resume."""
    model: str = setting(DEFAULT_MODEL, metavar="NAME")
    """fcmatch model name, local Hugging Face folder, or fcmatch run folder (its adapter on the base it names)."""
    template: str = setting("alpaca", choices=TEMPLATES)
    """Prompt: alpaca (the Stanford Alpaca prompt, raw text) or chat (the model's chat template); use the one the
    model was tuned with."""
    dtype: str = setting("auto", choices=DTYPES)
    """Compute dtype: auto (fp32 on CPU, bf16 on CUDA devices with bf16), float32, bfloat16, float16."""
    limit: int = setting(0, minimum=0)
    """Answer only the first N records (0 = all)."""
    batch_size: int = setting(16, minimum=1)
    """Prompts decoded together."""
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    """Decoding settings."""
    threads: int = setting(0, minimum=0)
    """CPU threads for torch (0 = torch's default, all cores)."""
    progress: bool = True
    """Show a progress bar."""
    score: bool = False
    """Also score the predictions (as fcmatch score does) into <output stem>.scores.json."""
    scoring: ScoreOptions = field(default_factory=ScoreOptions)
    """How --score scores."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class ScoreConfig:
    """Text metrics of ``fcmatch generate``'s predictions, optionally tested against a base model's."""

    pred: str = setting("", positional=True, metavar="PRED")
    """Predictions written by fcmatch generate (pred.jsonl)."""
    base: str | None = setting(None, metavar="BASE_PRED")
    """A base model's predictions for the same records: adds a paired test of PRED - BASE_PRED per metric."""
    out: str | None = setting(None, metavar="FILE")
    """Where the scores go (with per-record rows); unset = <PRED stem>.scores.json. The config goes beside it."""
    json: bool = False
    """Print one JSON object (without per-record rows) instead of a table."""
    scoring: ScoreOptions = field(default_factory=ScoreOptions)
    """Scoring options."""

    def __post_init__(self) -> None:
        check(self)

    @property
    def out_path(self) -> Path:
        """``out``, or ``<pred stem>.scores.json`` beside the predictions."""
        return Path(self.out) if self.out else scores_path(self.pred)


def scores_path(pred: str | Path) -> Path:
    """Where the scores of ``pred`` go by default: ``pred.jsonl`` -> ``pred.scores.json``."""
    pred = Path(pred)
    return pred.with_name(pred.stem + ".scores.json")
