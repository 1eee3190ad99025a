"""The one typed configuration of a fine-tuning run: YAML file, ``--key value`` overrides, validation.

Every field's one-line docstring (the string literal under it) doubles as the command line's ``--help``
and as the config reference in docs/training.md (:func:`field_docs` extracts them). The docstrings, the type
conversion and the YAML reading are ``fcmatch.config``'s; the train command keeps its own flags (every field as
``--key value``, a bool flag alone meaning true) and its YAML-typed overrides (:func:`coerce`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from fcmatch.config import ConfigError, convert, read_values
from fcmatch.config import field_docs as config_field_docs
from fcmatch.models import DTYPES

__all__ = ["ConfigError", "TrainConfig", "coerce", "field_docs", "from_dict", "load_config"]

METHODS = ("lora", "qlora", "dora", "bitfit", "full")
SCHEDULES = ("cosine", "linear", "constant")
DISTRIBUTED = ("ddp", "fsdp")
FAST_PATHS = ("auto", "off")  # fcmatch.train.cpu: auto = on when training on a CPU


@dataclass
class TrainConfig:
    """Supervised fine-tuning of a causal LM on task records (see docs/training.md)."""

    task: str = "causal"
    """Task that turns records into chat messages: 'causal' (causal-map files) or 'chat' (JSONL with messages or prompt/completion)."""
    model: str = "smollm2-135m-instruct"
    """Base model: an fcmatch model name, a local Hugging Face folder or a hub id."""
    method: str = "lora"
    """Fine-tuning method: lora, qlora (4-bit NF4 base + LoRA), dora, bitfit (bias terms only) or full."""
    train_file: str = ""
    """Training records (.jsonl, .csv or .json for task causal; .jsonl for task chat)."""
    val_file: str = ""
    """Validation records; empty for none (then no early stopping and the final weights are kept)."""
    output_dir: str = "runs/causal-lora"
    """Run folder: adapter/ or model/, config.yaml, manifest.json, metrics.jsonl, checkpoints/."""
    max_train_examples: int = 0
    """Use only the first N training records (0 = all)."""
    max_length: int = 1024
    """Longest example in tokens; longer examples are skipped and counted in the log."""
    epochs: float = 1.0
    """Passes over the training data (fractions allowed); ignored when max_steps > 0."""
    max_steps: int = 0
    """Optimizer steps to run (0 = derived from epochs)."""
    batch_size: int = 8
    """Examples per micro-batch per process."""
    grad_accum: int = 1
    """Micro-batches per optimizer step; the global batch is batch_size * grad_accum * processes examples."""
    packing: bool = True
    """Pack a micro-batch into one row with block-diagonal attention (no padding); false pads rows instead."""
    lr: float = 2e-4
    """Peak learning rate of AdamW."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    """AdamW betas (two floats)."""
    schedule: str = "cosine"
    """Learning-rate schedule after warmup: cosine, linear (both decay to 0) or constant."""
    warmup_ratio: float = 0.05
    """Fraction of the optimizer steps spent warming up linearly from 0 (ignored when warmup_steps > 0)."""
    warmup_steps: int = 0
    """Warmup steps (overrides warmup_ratio when > 0)."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this (0 = no clipping)."""
    seed: int = 0
    """Seed of the adapter init, the data order and dropout."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: float = 32.0
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA input."""
    target_modules: str | list[str] = "all-linear"
    """Linear layers that get adapters: 'all-linear' or a list of module names such as [q_proj, v_proj]."""
    gradient_checkpointing: bool = False
    """Recompute layer activations in backward: less memory, about 30% slower."""
    loss_chunk: int = 128
    """Loss positions per LM-head chunk; bounds the logits held in memory to chunk x vocabulary (128 x 49k fp32: 25 MB)."""
    dtype: str = "auto"
    """Weights/compute dtype: auto (fp32 on CPU, bf16 on CUDA if supported), float32, bfloat16, float16 (autocast)."""
    fast_paths: str = "auto"
    """CPU fast path: auto (on when training on a CPU) or off (plain peft forward and backward, torch's allocator, no process-wide settings)."""
    num_threads: int = 0
    """CPU threads for torch (0 = physical cores / processes)."""
    distributed: str = "ddp"
    """Several processes: ddp (each holds the whole model) or fsdp (weights, gradients, optimizer state sharded; one process: unsharded)."""
    log_every: int = 1
    """Append a metrics.jsonl line every N optimizer steps."""
    eval_every: int = 50
    """Validation loss every N optimizer steps and at the end (0 = only at the end)."""
    save_every: int = 50
    """Checkpoint every N optimizer steps (0 = never; then --resume has nothing to resume from)."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept on disk (the best one is kept separately)."""
    early_stopping_patience: int = 0
    """Stop after this many evaluations without a lower validation loss (0 = never stop early)."""
    report_to: list[str] = field(default_factory=list)
    """Extra metric sinks besides metrics.jsonl: tensorboard, wandb, mlflow (when installed)."""
    resume: bool = False
    """Continue the run in output_dir from its newest checkpoint."""
    progress: bool = True
    """Show a progress bar (loss, tokens/s, ETA)."""

    def validate(self) -> TrainConfig:
        """Check values and combinations; returns self.

        Raises:
            ConfigError: naming the offending key.
        """
        from fcmatch.tasks import TASKS

        if self.task not in (*TASKS, "chat"):
            raise ConfigError(f"task={self.task!r}: choose one of {', '.join([*TASKS, 'chat'])}")
        if self.method not in METHODS:
            raise ConfigError(f"method={self.method!r}: choose one of {', '.join(METHODS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule={self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype={self.dtype!r}: choose one of {', '.join(DTYPES)}")
        if self.distributed not in DISTRIBUTED:
            raise ConfigError(f"distributed={self.distributed!r}: choose one of {', '.join(DISTRIBUTED)}")
        if self.fast_paths not in FAST_PATHS:
            raise ConfigError(f"fast_paths={self.fast_paths!r}: choose one of {', '.join(FAST_PATHS)}")
        if not self.train_file:
            raise ConfigError("train_file is required")
        if not self.output_dir:
            raise ConfigError("output_dir is required")
        for key in ("batch_size", "grad_accum", "max_length", "loss_chunk", "log_every", "lora_r", "keep_checkpoints"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}={getattr(self, key)} must be >= 1")
        for key in ("max_steps", "warmup_steps", "eval_every", "save_every", "early_stopping_patience",
                    "max_train_examples", "num_threads"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}={getattr(self, key)} must be >= 0")
        if self.max_steps == 0 and self.epochs <= 0:
            raise ConfigError(f"epochs={self.epochs} must be > 0 when max_steps is 0")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be > 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio={self.warmup_ratio} must be in [0, 1)")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout={self.lora_dropout} must be in [0, 1)")
        if len(self.adam_betas) != 2:
            raise ConfigError(f"adam_betas={self.adam_betas} must be two floats")
        if self.early_stopping_patience and not self.val_file:
            raise ConfigError("early_stopping_patience needs a val_file to watch")
        if self.method in ("bitfit", "full") and self.target_modules != "all-linear":
            raise ConfigError(f"target_modules only applies to adapter methods, not method={self.method}")
        if self.method == "qlora" and self.dtype == "float16":
            raise ConfigError("dtype=float16 with method=qlora: use auto, float32 or bfloat16")
        if isinstance(self.target_modules, list) and not self.target_modules:
            raise ConfigError("target_modules is empty")
        from fcmatch.train.reporting import BACKENDS, missing_packages

        for name in self.report_to:
            if name not in BACKENDS:
                raise ConfigError(f"report_to: unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
        missing = missing_packages(self.report_to)
        if missing:  # before any data or model loads, not after
            raise ConfigError(f"report_to={self.report_to} needs {', '.join(missing)}, not installed here: "
                              f"pip install {' '.join(missing)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for config.yaml)."""
        return dataclasses.asdict(self)


def field_docs() -> dict[str, str]:
    """Field name -> its one-line docstring, read from this class's source."""
    return config_field_docs(TrainConfig)


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def coerce(key: str, value: Any) -> Any:
    """Convert a YAML or command-line value to the type of field ``key``.

    Command-line text is read as YAML first, so "true", "3", "1e-4" and "[q_proj, v_proj]" get their types; text for
    a list field (and ``target_modules`` text with a comma) is split on commas.

    Raises:
        ConfigError: unknown key or a value of the wrong type, naming the key.
    """
    kinds = _field_types()
    if key not in kinds:
        raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(kinds)}")
    kind = kinds[key]
    if isinstance(value, str) and kind is not str:
        value = yaml.safe_load(value) if value.strip() else value
    if isinstance(value, str) and (typing.get_origin(kind) is list or (key == "target_modules" and "," in value)):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if kind is bool and not isinstance(value, bool):  # YAML has read "1", "yes" and "on" already; text is an error
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    try:
        return convert(kind, value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}: {err}") from None


def from_dict(values: dict[str, Any], where: str = "config") -> TrainConfig:
    """Build a config from a mapping; unknown keys and wrong types are errors naming the key."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(values).__name__}")
    try:
        return TrainConfig(**{k: coerce(k, v) for k, v in values.items()})
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config, apply overrides, validate; relative paths stay relative to the working directory.

    Args:
        path: YAML file (None: defaults only).
        overrides: key -> value (strings are parsed as YAML scalars), applied after the file.

    Raises:
        FileNotFoundError: no such config file.
        ConfigError: bad YAML, unknown keys, wrong types or contradictory settings.
    """
    values = read_values(path) if path is not None else {}
    config = from_dict(values, str(path or "config"))
    for key, value in (overrides or {}).items():
        setattr(config, key, coerce(key, value))
    return config.validate()
