"""Who annotates which sentence: every sentence once, a chosen share of them by several people.

The overlap is what makes agreement measurable: with ``overlap=0.2, redundancy=2``, one sentence in
five is done independently by two annotators. Sentences are spread greedily to the least-loaded
annotators, ties broken by a seeded shuffle, so loads differ by at most one sentence (counting
what each person already has) and a rerun with the same seed gives the same plan.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

S = TypeVar("S", bound=Hashable)
A = TypeVar("A", bound=Hashable)


def plan_assignments(
    sentences: Sequence[S],
    annotators: Sequence[A],
    overlap: float = 0.2,
    redundancy: int = 2,
    seed: int = 0,
    load: Mapping[A, int] | None = None,
) -> dict[A, list[S]]:
    """Assign every sentence to one annotator, and ``overlap`` of them to ``redundancy`` annotators.

    Args:
        sentences: ids of the sentences still unassigned.
        annotators: ids of the annotators to share them among.
        overlap: fraction in [0, 1] of ``sentences`` done by ``redundancy`` people (rounded to nearest).
        redundancy: annotators per overlapping sentence (>= 2 when ``overlap`` > 0).
        seed: seeds which sentences overlap and how ties between equally loaded annotators break.
        load: sentences each annotator already has, so a second round keeps loads even.

    Returns:
        For every annotator, the sentences assigned to them, in the order of ``sentences``.

    Raises:
        ValueError: no annotators, overlap outside [0, 1], redundancy < 2 with overlap, or redundancy
            larger than the number of annotators; the message names the flag.
    """
    if not annotators:
        raise ValueError("no annotators to assign to; invite some first (fcmatch annotate invite)")
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"--overlap must lie in [0, 1], got {overlap}")
    n_shared = round(overlap * len(sentences))
    if n_shared:
        if redundancy < 2:
            raise ValueError(f"--redundancy must be at least 2 when --overlap > 0, got {redundancy}")
        if redundancy > len(annotators):
            raise ValueError(
                f"--redundancy {redundancy} needs at least {redundancy} annotators; the project has {len(annotators)}"
            )
    rng = random.Random(seed)
    shared = set(rng.sample(range(len(sentences)), n_shared))
    tie_order = list(annotators)
    rng.shuffle(tie_order)
    rank = {a: i for i, a in enumerate(tie_order)}
    counts = {a: int((load or {}).get(a, 0)) for a in annotators}
    plan: dict[A, list[S]] = {a: [] for a in annotators}
    for index, sentence in enumerate(sentences):
        k = redundancy if index in shared else 1
        # least loaded first; the rotating rank spreads ties (and so the pairs) over everyone
        chosen = sorted(annotators, key=lambda a: (counts[a], (rank[a] - index) % len(tie_order)))[:k]
        for annotator in chosen:
            plan[annotator].append(sentence)
            counts[annotator] += 1
    return plan
