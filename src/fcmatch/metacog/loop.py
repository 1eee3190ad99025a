"""Validate-then-regenerate: answer, validate, and while judged WRONG regenerate with EXAR, up to N rounds.

The loop is written against three batched callables, so that it runs with real adapters
(:mod:`fcmatch.metacog.study`) and with stubs in tests:

- ``validate(questions, answers) -> [P(CORRECT)]``;
- ``regenerate(questions, contexts, temperature) -> [answer]`` (EXAR: the earlier answer is the Context).

Round r (1..N) regenerates every question whose latest attempt is below the threshold, at
``temperatures[r-1]`` (the last temperature repeats when the schedule is shorter than N). A question stops
at its first attempt validated CORRECT. Which attempt is kept is a policy applied afterwards
(:func:`kept`): ``last`` (the reference's) or ``best`` (highest validator probability, earliest on ties), so
one run of the loop serves both. The oracle is the same loop with the labelling rule (which reads the
gold answer) as validator: it regenerates exactly the truly wrong answers, an upper bound for any validator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

KEEP_POLICIES = ("last", "best")

Validate = Callable[[Sequence[str], Sequence[str]], Sequence[float]]
Regenerate = Callable[[Sequence[str], Sequence[str], float], Sequence[str]]


@dataclass
class Attempt:
    """One answer of one question."""

    text: str
    """The answer."""
    p_correct: float
    """The validator's P(CORRECT)."""
    temperature: float | None
    """Decoding temperature (None: the first answer, made before the loop)."""


@dataclass
class Trace:
    """Every attempt at one question, in order."""

    attempts: list[Attempt] = field(default_factory=list)
    """First answer, then one per round the question took part in."""
    stopped: str = ""
    """validated (an attempt reached the threshold) or rounds (N rounds were used up)."""


def run_loop(questions: Sequence[str], first_answers: Sequence[str], validate: Validate, regenerate: Regenerate,
             rounds: int, temperatures: Sequence[float], threshold: float = 0.5) -> list[Trace]:
    """Run the loop on a batch of questions.

    Args:
        questions: question texts.
        first_answers: the answerer's answer to each (round 0).
        validate, regenerate: see the module docstring.
        rounds: N, the most regenerations per question (0: validate only).
        temperatures: the schedule, one per round (the last one repeats).
        threshold: an attempt with P(CORRECT) >= threshold is accepted.

    Returns:
        One trace per question.

    Raises:
        ValueError: negative rounds, an empty schedule with rounds > 0, or lengths that differ.
    """
    if rounds < 0:
        raise ValueError(f"rounds={rounds}: must be >= 0")
    if rounds and not temperatures:
        raise ValueError("a temperature schedule is needed when rounds > 0")
    if len(first_answers) != len(questions):
        raise ValueError(f"{len(first_answers)} first answers for {len(questions)} questions")
    probs = list(validate(questions, first_answers))
    traces = [Trace([Attempt(a, float(p), None)]) for a, p in zip(first_answers, probs, strict=True)]
    for r in range(rounds):
        todo = [i for i, t in enumerate(traces) if t.attempts[-1].p_correct < threshold]
        if not todo:
            break
        temperature = float(temperatures[min(r, len(temperatures) - 1)])
        qs = [questions[i] for i in todo]
        answers = list(regenerate(qs, [traces[i].attempts[-1].text for i in todo], temperature))
        new_probs = list(validate(qs, answers))
        for i, a, p in zip(todo, answers, new_probs, strict=True):
            traces[i].attempts.append(Attempt(a, float(p), temperature))
    for t in traces:
        t.stopped = "validated" if t.attempts[-1].p_correct >= threshold else "rounds"
    return traces


def kept(trace: Trace, policy: str) -> Attempt:
    """The attempt a policy keeps: ``last``, or ``best`` (highest P(CORRECT), the earliest on ties).

    Raises:
        ValueError: an unknown policy.
    """
    if policy == "last":
        return trace.attempts[-1]
    if policy == "best":
        return max(trace.attempts, key=lambda a: a.p_correct)  # max keeps the first of equal maxima
    raise ValueError(f"keep policy {policy!r}: choose one of {', '.join(KEEP_POLICIES)}")


def outcome_counts(before: Sequence[str], after: Sequence[str], correct_before: Sequence[bool],
                   correct_after: Sequence[bool]) -> dict[str, int]:
    """How many answers the loop changed (text differs), fixed (WRONG -> CORRECT) and broke (CORRECT -> WRONG)."""
    return {"changed": sum(a.strip() != b.strip() for a, b in zip(after, before, strict=True)),
            "fixed": sum(a and not b for a, b in zip(correct_after, correct_before, strict=True)),
            "broken": sum(b and not a for a, b in zip(correct_after, correct_before, strict=True)),
            "n": len(before)}


def cost(traces: Sequence[Trace]) -> dict[str, Any]:
    """Generations and validator calls per question, beyond the first answer and its validation."""
    n = len(traces) or 1
    extra = sum(len(t.attempts) - 1 for t in traces)
    return {"extra_generations": extra, "extra_generations_per_question": extra / n,
            "regenerated_questions": sum(len(t.attempts) > 1 for t in traces),
            "validator_calls_per_question": sum(len(t.attempts) for t in traces) / n,
            "stopped_validated": sum(t.stopped == "validated" for t in traces)}
