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
    """How to decode: greedy (the default), beam search (``num_beams`` > 1) or sampling (``temperature`` > 0).

    Sampling is on exactly when ``temperature`` > 0, and then ``do_sample`` is passed to ``model.generate``
    (without it, transformers silently ignores temperature, top-k and top-p). ``top_k`` and ``top_p`` only
    refine sampling, so setting them without a temperature is an error, as is beam search with sampling
    (beam sampling mixes two searches whose knobs interact; it is not offered): no setting is ever ignored.
    """

    max_new_tokens: int = setting(128, minimum=1)
    """Token limit per answer; causal-map gold answers on the reference data are at most ~100 tokens."""
    temperature: float = setting(0.0, minimum=0)
    """0 = no sampling (greedy, or beam search with --num-beams); > 0 samples with this temperature."""
    top_k: int | None = setting(None, minimum=1, metavar="K")
    """Sample only among the K most likely next tokens (only when sampling); unset = no top-k cut."""
    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1] (only when sampling)."""
    num_beams: int = setting(1, minimum=1)
    """Beam search with this many beams (1 = greedy; not with sampling)."""
    seed: int = 0
    """Seed set before each batch when sampling, so a batch's output does not depend on earlier batches (and of
    extract's demonstration draw)."""

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
        if self.top_k is not None and self.temperature == 0:
            raise ConfigError("--top-k only applies when sampling; set --temperature > 0 too")
        if self.num_beams > 1 and self.temperature > 0:
            raise ConfigError(f"--num-beams {self.num_beams} with --temperature {self.temperature:g}: choose beam "
                              "search or sampling (beam sampling is not offered)")

    @property
    def strategy(self) -> str:
        """``"greedy"``, ``"beam"`` or ``"sample"``."""
        if self.temperature > 0:
            return "sample"
        return "beam" if self.num_beams > 1 else "greedy"

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``model.generate`` for these settings: every decoding knob explicit, so that a
        model's own ``generation_config`` (SmolLM2's, say) changes nothing."""
        if self.strategy != "sample":
            return {"do_sample": False, "num_beams": self.num_beams, "top_p": None, "top_k": None,
                    "temperature": None}
        # top_k=None: no top-k cut (transformers' global default would otherwise be 50)
        return {"do_sample": True, "num_beams": 1, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k}


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
    retrieval_k: int | None = setting(None, minimum=0, metavar="K")
    """Show the K most similar pool sentences (MiniLM) with their coded edges in each prompt; unset = what the
    run was trained with (task causal-rag: its k; otherwise 0), 0 = none."""
    snap_threshold: float | None = setting(None, metavar="COS")
    """Snap each predicted concept to the nearest pool concept when their MiniLM cosine is at least COS (one-to-one
    within a map); unset = the run's task default, 0 = no snapping."""
    pool: str | None = setting(None, metavar="FILE")
    """Training sentences that retrieval draws from and snapping snaps to; unset = the run's train_file."""
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
        if self.shots and self.retrieval_k:
            raise ConfigError("--shots with --retrieval-k: choose drawn or retrieved demonstrations")
        if self.snap_threshold is not None and not 0 <= self.snap_threshold <= 1:
            raise ConfigError(f"--snap-threshold must be in [0, 1], got {self.snap_threshold}")
