"""The causal-map extraction task: a sentence in, its canonical edge list out.

The same prompt is used to fine-tune and to extract with a fine-tuned adapter, so the model sees at
inference exactly the conversation it was trained on. Zero-shot base models get the same instruction;
``demonstrations`` adds k worked examples as earlier chat turns.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from fcmatch.data.causal_map import CausalMap
from fcmatch.data.formats import read_maps
from fcmatch.data.serialize import format_edges

INSTRUCTION = (
    "Extract the causal relations stated in the sentence. Write one relation per line as "
    "'cause -> effect (+)' when the cause increases the effect or 'cause -> effect (-)' when it "
    "decreases it, using short phrases from the sentence. Write 'none' if there is no causal relation."
)


def read_records(path: str | os.PathLike) -> list[CausalMap]:
    """The task's records: causal maps in any format :func:`fcmatch.data.read_maps` reads.

    Raises:
        FileNotFoundError, FormatError: a missing or malformed file (the message names file and line).
    """
    return read_maps(path)


def user_message(text: str) -> str:
    """The user turn for one sentence."""
    return f"{INSTRUCTION}\n\nSentence: {text}"


def prompt_messages(cmap: CausalMap | str, demonstrations: Sequence[CausalMap] = ()) -> list[dict[str, str]]:
    """Chat messages up to (not including) the assistant's answer.

    Args:
        cmap: the sentence (a CausalMap or its text).
        demonstrations: worked examples shown first as user/assistant turns (few-shot prompting).
    """
    text = cmap if isinstance(cmap, str) else cmap.text
    messages: list[dict[str, str]] = []
    for demo in demonstrations:
        messages.append({"role": "user", "content": user_message(demo.text)})
        messages.append({"role": "assistant", "content": format_edges(demo.edges)})
    messages.append({"role": "user", "content": user_message(text)})
    return messages


def to_example(cmap: CausalMap) -> dict[str, list[dict[str, str]]]:
    """Training example: the prompt plus the canonical serialisation of the edges as the answer."""
    return {"messages": [*prompt_messages(cmap), {"role": "assistant", "content": format_edges(cmap.edges)}]}
