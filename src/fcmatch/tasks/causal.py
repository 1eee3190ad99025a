"""The causal-map extraction task: a sentence in, its canonical edge list out.

The same prompt is used to fine-tune and to extract with a fine-tuned adapter, so the model sees at
inference exactly the conversation it was trained on. Zero-shot base models get the same instruction;
``demonstrations`` adds k worked examples as earlier chat turns.

``retrieved`` puts the coded edges of similar training sentences into the user turn itself (one turn, so
the instruction is not repeated per example). :data:`RETRIEVAL` is the task that trains with them: its
``read_records`` attaches to each record the ``k`` most similar other records of the same file
(:class:`fcmatch.extract.retrieval.Retriever`), registered as ``causal-rag`` in :data:`fcmatch.tasks.TASKS`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

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


RETRIEVED_HEADER = "Similar sentences and their relations:"


def user_message(text: str, retrieved: Sequence[CausalMap] = ()) -> str:
    """The user turn for one sentence, with the coded edges of ``retrieved`` sentences before it."""
    if not retrieved:
        return f"{INSTRUCTION}\n\nSentence: {text}"
    shown = "\n\n".join(f"Sentence: {m.text}\n{format_edges(m.edges)}" for m in retrieved)
    return f"{INSTRUCTION}\n\n{RETRIEVED_HEADER}\n\n{shown}\n\nNow the sentence to extract from.\nSentence: {text}"


def prompt_messages(
    cmap: CausalMap | str, demonstrations: Sequence[CausalMap] = (), retrieved: Sequence[CausalMap] = ()
) -> list[dict[str, str]]:
    """Chat messages up to (not including) the assistant's answer.

    Args:
        cmap: the sentence (a CausalMap or its text).
        demonstrations: worked examples shown first as user/assistant turns (few-shot prompting).
        retrieved: similar sentences whose coded edges are shown inside the sentence's own user turn.
    """
    text = cmap if isinstance(cmap, str) else cmap.text
    messages: list[dict[str, str]] = []
    for demo in demonstrations:
        messages.append({"role": "user", "content": user_message(demo.text)})
        messages.append({"role": "assistant", "content": format_edges(demo.edges)})
    messages.append({"role": "user", "content": user_message(text, retrieved)})
    return messages


def to_example(cmap: CausalMap) -> dict[str, list[dict[str, str]]]:
    """Training example: the prompt plus the canonical serialisation of the edges as the answer.

    A record from :meth:`RetrievalTask.read_records` carries its neighbours in ``meta["retrieved"]``;
    they are shown in the prompt as at extraction.
    """
    retrieved = cmap.meta.get("retrieved", ())
    return {"messages": [*prompt_messages(cmap, retrieved=retrieved),
                         {"role": "assistant", "content": format_edges(cmap.edges)}]}


@dataclass(frozen=True)
class RetrievalTask:
    """The causal task with retrieved demonstrations: each record shows its ``k`` nearest other records.

    Attributes:
        k: neighbours per prompt; each adds about 80 tokens (a sentence and its edges) on the reference data.
        snap_threshold: the MiniLM cosine at which extraction snaps a concept to the training codebook by
            default (0 = no snapping).
    """

    k: int = 2
    snap_threshold: float = 0.0

    def read_records(self, path: str | os.PathLike) -> list[CausalMap]:
        """The file's causal maps, each with its ``k`` nearest other maps of the file in ``meta["retrieved"]``."""
        from fcmatch.extract.retrieval import Retriever

        maps = read_maps(path)
        neighbours = Retriever(maps, self.k).neighbours([m.text for m in maps])
        return [CausalMap(m.text, m.edges, m.source, {**m.meta, "retrieved": n}) for m, n in zip(maps, neighbours, strict=True)]

    def to_example(self, record: CausalMap) -> dict[str, list[dict[str, str]]]:
        """See :func:`to_example`."""
        return to_example(record)

    def prompt_messages(self, record: CausalMap) -> list[dict[str, str]]:
        """See :func:`prompt_messages`; the neighbours come from ``record.meta["retrieved"]``."""
        return prompt_messages(record, retrieved=record.meta.get("retrieved", ()))


RETRIEVAL = RetrievalTask()
