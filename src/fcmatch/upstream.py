"""What fcmatch needs to know about the transformers release it runs on: the name of the KV-cache argument.

transformers 5.x renamed the forward argument ``past_key_values`` to ``cache`` (and the outputs' field with it),
keeping the old name behind a deprecation wrapper that warns and is to be removed in a later minor release.
fcmatch supports releases on both sides of the rename, so it asks each forward which name it declares instead of
assuming one; passing a name positionally is never safe across the rename.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

CACHE_NAMES = ("cache", "past_key_values")
"""The KV-cache argument's name in transformers, newest first."""


@functools.cache
def _declared_cache_name(forward: Any) -> str | None:
    try:
        parameters = inspect.signature(inspect.unwrap(forward)).parameters
    except (TypeError, ValueError):
        return None
    return next((name for name in CACHE_NAMES if name in parameters), None)


def cache_argument(owner: Any) -> str:
    """The name under which ``owner``'s forward (a module, a model or a class) takes the KV cache.

    A peft wrapper is looked through to its base model, and a class's own forward that declares neither name (an
    fcmatch mixin taking ``**kwargs``) to the first class in its MRO that does. Falls back to the name
    LlamaForCausalLM declares in the installed transformers.
    """
    base = owner.get_base_model() if hasattr(owner, "get_base_model") else owner
    cls = base if isinstance(base, type) else type(base)
    for klass in cls.__mro__:
        forward = klass.__dict__.get("forward")
        name = _declared_cache_name(forward) if forward is not None else None
        if name is not None:
            return name
    return _declared_cache_name(_newest_llama_forward()) or CACHE_NAMES[0]


def forward_parameters(cls: type) -> tuple[str, ...]:
    """The parameter names of ``cls.forward`` as written (decorators such as transformers' deprecation wrapper
    looked through), ``**kwargs`` as ``"**"``."""
    parameters = inspect.signature(inspect.unwrap(cls.forward)).parameters.values()
    return tuple("**" if p.kind is p.VAR_KEYWORD else p.name for p in parameters)


@functools.cache
def _newest_llama_forward() -> Any:
    from transformers import LlamaForCausalLM

    return LlamaForCausalLM.forward


def cache_kwargs(owner: Any, cache: Any) -> dict[str, Any]:
    """``{name: cache}`` with the name ``owner``'s forward declares (see :func:`cache_argument`)."""
    return {cache_argument(owner): cache}


def pop_cache(kwargs: dict[str, Any]) -> Any:
    """Remove the KV cache from a forward's ``kwargs`` under either name and return it (None when absent).

    Raises:
        TypeError: when both names are given, as transformers' own wrapper does.
    """
    given = [name for name in CACHE_NAMES if name in kwargs]
    if len(given) > 1:
        raise TypeError(f"got the KV cache twice, as {' and '.join(given)}; pass one")
    return kwargs.pop(given[0]) if given else None


def output_cache(output: Any) -> Any:
    """The KV cache a model returned, read by the field name its output class declares (no deprecation warning)."""
    fields = getattr(output, "__dataclass_fields__", {})
    for name in CACHE_NAMES:
        if name in fields:
            return getattr(output, name)
    return output.past_key_values
