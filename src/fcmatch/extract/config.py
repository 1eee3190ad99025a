"""The configuration of ``fcmatch extract``: model, sentences, prompting and decoding (each field is a flag).

The run writes it beside its predictions: ``pred.jsonl`` gets ``pred.config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fcmatch.config import ConfigError, check, setting
from fcmatch.models import DTYPES


@dataclass
class GenerationSettings:
    """How to decode; greedy unless ``temperature`` > 0."""

    max_new_tokens: int = setting(128, minimum=1)
    """Token limit per answer; gold answers on the reference data are at most ~100 tokens."""
    temperature: float = setting(0.0, minimum=0)
    """0 = greedy decoding; > 0 samples with this temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1] (only when sampling)."""
    seed: int = 0
    """Seed of the demonstration draw, and set before each batch when sampling, so a batch's output does not
    depend on earlier batches."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        """The checks beyond those declared on the fields (run by :func:`fcmatch.config.check`).

        Raises:
            ConfigError: naming the flag.
        """
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.top_p < 1 and self.temperature == 0:
            raise ConfigError("--top-p only applies when sampling; set --temperature > 0 too")

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``model.generate`` for these settings."""
        if self.temperature == 0:
            return {"do_sample": False, "top_p": None, "top_k": None, "temperature": None}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": None}


@dataclass
class ExtractConfig:
    """One extraction run: which model, which sentences, how to prompt and decode."""

    input: str = setting("", required=True, metavar="FILE")
    """Sentences to extract from: .jsonl, .csv or .json causal maps (gold edges, if any, are ignored)."""
    output: str = setting("", required=True, metavar="FILE")
    """Predictions, fcmatch JSONL; meta holds raw output, parse problems and the model. Re-run to resume."""
    model: str = setting("smollm2-135m-instruct", metavar="NAME")
    """Base model name, folder or fcmatch run folder."""
    adapter: str | None = setting(None, metavar="RUN")
    """A fine-tuned adapter (fcmatch run folder or peft adapter) applied on the base."""
    quantize: str | None = setting(None, choices=("nf4",))
    """Load the base in 4 bits with nf4; unset = full precision."""
    dtype: str = setting("auto", choices=DTYPES)
    """Compute dtype: auto (fp32 on CPU, bf16 on CUDA devices with bf16), float32, bfloat16, float16. On a CPU
    with AMX, bfloat16 decoded 1.33x faster than float32 but changed 12 of 32 answers (docs/extraction.md)."""
    shots: int = setting(0, minimum=0)
    """Number of worked examples shown before each sentence (few-shot prompting of base models)."""
    demos: str | None = setting(None, metavar="FILE")
    """File the demonstrations are drawn from (needed when shots > 0)."""
    batch_size: int = setting(16, minimum=1)
    """Sentences decoded together; greedy decoding gives a finished sentence's place to the next one."""
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    """Decoding settings."""
    threads: int = setting(0, minimum=0)
    """CPU threads for torch (0 = torch's default, all cores). On a machine shared with other jobs, 1 avoids
    OpenMP oversubscription: measured 12x faster there (docs/extraction.md)."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        """The checks beyond those declared on the fields (run by :func:`fcmatch.config.check`).

        Raises:
            ConfigError: naming the flag.
        """
        if self.shots and not self.demos:
            raise ConfigError("--shots needs --demos TRAIN_FILE to draw the demonstrations from")
        if self.adapter and self.shots:
            raise ConfigError("--shots with --adapter: a fine-tuned model is prompted as it was trained (zero-shot)")
