"""Fine-tuning methods: which weights train and how the base is loaded. A plain dict registry.

Each method is a ``Method`` with the quantisation it asks the loader for, a ``prepare(model, config)``
that returns the model with exactly the trainable parameters of the method, and whether the result is
saved as a peft adapter (``RUN/adapter``) or as a full model (``RUN/model``). The models are peft's and
transformers' own; on a CPU the training loop then hands them to the fast path (``fcmatch.train.cpu.prepare``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fcmatch.models import quiet_peft
from fcmatch.train.config import ConfigError, TrainConfig


@dataclass(frozen=True)
class Method:
    """How one fine-tuning method loads, prepares and saves a model."""

    quantize: str | None
    """Quantisation passed to fcmatch.models.load (None or 'nf4')."""
    prepare: Callable[[Any, TrainConfig], Any]
    """(model, config) -> model whose trainable parameters are the method's."""
    adapter: bool
    """True: save a peft adapter; False: save the whole model."""


def _lora_config(config: TrainConfig, dora: bool) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
        use_dora=dora,
    )


def _freeze(model: Any) -> None:
    for param in model.parameters():
        param.requires_grad_(False)


def _peft(model: Any, config: TrainConfig, dora: bool = False) -> Any:
    from peft import get_peft_model

    _freeze(model)
    with quiet_peft():
        model = get_peft_model(model, _lora_config(config, dora))
    # adapter_config.json names the fcmatch model (e.g. "smollm2-135m-instruct"), which
    # fcmatch.models.load(RUN) resolves, rather than the cache folder it was loaded from
    model.peft_config["default"].base_model_name_or_path = config.model
    return model


def _qlora(model: Any, config: TrainConfig) -> Any:
    # peft's prepare_model_for_kbit_training would upcast norms/embeddings to fp32 and turn on
    # gradient checkpointing; the base here is already fp32 off-GPU, and checkpointing is the user's choice
    return _peft(model, config)


def _bitfit(model: Any, config: TrainConfig) -> Any:
    _freeze(model)
    biases = [p for name, p in model.named_parameters() if name.endswith(".bias")]
    if not biases:
        raise ConfigError(
            f"method=bitfit: the model {config.model!r} has no bias terms (Llama-family models such as SmolLM2 "
            "have none), so there would be nothing to train; use method lora, dora, qlora or full"
        )
    for param in biases:
        param.requires_grad_(True)
    return model


def _full(model: Any, config: TrainConfig) -> Any:
    for param in model.parameters():
        param.requires_grad_(True)
    return model


METHODS: dict[str, Method] = {
    "lora": Method(None, lambda m, c: _peft(m, c), adapter=True),
    "dora": Method(None, lambda m, c: _peft(m, c, dora=True), adapter=True),
    "qlora": Method("nf4", _qlora, adapter=True),
    "bitfit": Method(None, _bitfit, adapter=False),
    "full": Method(None, _full, adapter=False),
}


def trainable_parameters(model: Any) -> dict[str, Any]:
    """Name -> parameter for the parameters that train, in a stable order."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}
