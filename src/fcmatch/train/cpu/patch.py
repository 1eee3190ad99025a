"""Install the CPU fast path's modules into a peft LoRA model: :func:`speed_up_lora`.

Each fast path is a mixin placed in front of a module's own class (``llama.mixed_class``), installed only where
the module runs the very upstream forward it was written against; a release whose signature differs keeps
upstream's forward for that module, with a warning.
"""

from __future__ import annotations

import functools
import warnings

from torch import nn

from fcmatch import upstream
from fcmatch.train.cpu import kernels
from fcmatch.train.cpu.attention import _FusedRotaryAttention, _llama_attention
from fcmatch.train.cpu.dropout import FastDropout
from fcmatch.train.cpu.fastlora import _FusedForward
from fcmatch.train.cpu.llama import (
    FusedRMSNorm,
    InPlaceResidual,
    known_attention,
    known_decoder_layer,
    llama_decoder_layer,
    llama_rms_norm,
    mixed_class,
)
from fcmatch.train.cpu.swiglu import _FusedSwiGLU, _swiglu_mlp


def _known(known: bool, what: str, cls: type) -> bool:
    """``known``; when False, warn (once per class) that ``cls``'s forward is not one this fast path was checked
    against, so its ``what`` keeps upstream's forward."""
    if not known and cls not in _WARNED:
        _WARNED.add(cls)
        warnings.warn(f"fcmatch's CPU fast path does not know the forward of {cls.__module__}.{cls.__qualname__} "
                      f"{upstream.forward_parameters(cls)} in this release; its {what} runs as upstream wrote it "
                      "(correct, slower)", UserWarning, stacklevel=3)
    return known


_WARNED: set[type] = set()


@functools.cache
def _classes() -> dict[type, type]:
    """peft's plain and 4-bit LoRA layer classes -> their fused subclasses (built once, shared by every model)."""
    from peft.tuners.lora.layer import Linear

    classes = [Linear]
    try:
        from peft.tuners.lora.bnb import Linear4bit

        classes.append(Linear4bit)
    except ImportError:  # peft without bitsandbytes
        pass
    return {cls: mixed_class("FusedLora", _FusedForward, cls) for cls in classes}


def speed_up_lora(model: nn.Module) -> dict[str, int]:
    """Give a peft LoRA model the fast paths above, in place; returns how many dropouts and layers changed.

    Every ``nn.Dropout`` in peft's ``lora_dropout`` containers becomes ``FastDropout``, every plain
    ``lora.Linear`` or 4-bit ``Linear4bit`` (exactly those classes, not subclasses) gets the fused forward, and
    every Llama-style SwiGLU MLP whose down layer got it runs ``_SwiGLULora`` (counted as "mlp"). When the C
    kernels are available, Llama-style RMSNorms run ``llama.FusedRMSNorm`` while their weight is frozen ("norm"), and
    LlamaAttention layers apply the rotary embedding with ``llama.Rotary`` ("rotary"). Llama-style decoder layers add
    their residuals into the fused functions' outputs in place ("residual").

    The rotary embedding and the residuals change the projections', attention's and MLP's fresh outputs in place,
    so a forward hook that keeps one of those outputs sees it changed afterwards.
    """
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaDecoderLayer

    fused_classes = {cls: fused for cls, fused in _classes().items()
                     if _known(upstream.forward_parameters(cls)[:2] == ("self", "x"), "LoRA layer", cls)}
    residuals = _known(known_decoder_layer(LlamaDecoderLayer), "decoder layer", LlamaDecoderLayer)
    rotary = _known(known_attention(LlamaAttention), "attention", LlamaAttention)
    counts = {"dropout": 0, "fused": 0, "mlp": 0, "norm": 0, "rotary": 0, "residual": 0}
    for module in model.modules():
        container = getattr(module, "lora_dropout", None)
        if isinstance(container, nn.ModuleDict):
            for name, layer in container.items():
                if type(layer) is nn.Dropout and layer.p > 0:
                    container[name] = FastDropout(layer.p)
                    counts["dropout"] += 1
        fused = fused_classes.get(type(module))
        if fused is not None:
            module.__class__ = fused
            counts["fused"] += 1
    for module in model.modules():
        if not isinstance(module, _FusedSwiGLU) and isinstance(getattr(module, "down_proj", None), _FusedForward) \
                and _swiglu_mlp(module):
            module.__class__ = mixed_class("FusedSwiGLU", _FusedSwiGLU, type(module))
            counts["mlp"] += 1
        if residuals and not isinstance(module, InPlaceResidual) and llama_decoder_layer(module):
            module.__class__ = mixed_class("InPlaceResidual", InPlaceResidual, type(module))
            counts["residual"] += 1
        if kernels.library() is None:
            continue
        if not isinstance(module, FusedRMSNorm) and llama_rms_norm(module):
            module.__class__ = mixed_class("Fused", FusedRMSNorm, type(module))
            counts["norm"] += 1
        elif rotary and not isinstance(module, _FusedRotaryAttention) and _llama_attention(module):
            module.__class__ = mixed_class("FusedRotary", _FusedRotaryAttention, type(module))
            counts["rotary"] += 1
    return counts
