"""The validate-then-regenerate loop with stub validators and generators: it stops as specified."""

from __future__ import annotations

import pytest

from fcmatch.metacog.loop import cost, kept, outcome_counts, run_loop


class Stub:
    """Regenerates 'q-attempt-k'; validates by a table of probabilities per (question, attempt number)."""

    def __init__(self, probs):
        self.probs = probs
        self.calls = []

    def validate(self, questions, answers):
        return [self.probs[q][int(a.rsplit("-", 1)[1])] for q, a in zip(questions, answers, strict=True)]

    def regenerate(self, questions, contexts, temperature):
        self.calls.append((list(questions), list(contexts), temperature))
        return [f"{q}-{int(c.rsplit('-', 1)[1]) + 1}" for q, c in zip(questions, contexts, strict=True)]


def test_loop_stops_when_validated_or_after_n_rounds():
    stub = Stub({"a": [0.9], "b": [0.1, 0.2, 0.8, 0.9], "c": [0.1, 0.3, 0.2, 0.1, 0.0]})
    traces = run_loop(["a", "b", "c"], ["a-0", "b-0", "c-0"], stub.validate, stub.regenerate, rounds=3,
                      temperatures=[0.5, 1.0])
    assert [len(t.attempts) for t in traces] == [1, 3, 4]  # a accepted at once; b at round 2; c uses all 3
    assert [t.stopped for t in traces] == ["validated", "validated", "rounds"]
    # each round regenerates only the pending questions, with the earlier answer as context; schedule's last repeats
    assert stub.calls == [(["b", "c"], ["b-0", "c-0"], 0.5), (["b", "c"], ["b-1", "c-1"], 1.0),
                          (["c"], ["c-2"], 1.0)]
    assert [a.temperature for a in traces[2].attempts] == [None, 0.5, 1.0, 1.0]
    assert kept(traces[2], "last").text == "c-3" and kept(traces[2], "best").text == "c-1"
    c = cost(traces)
    assert (c["extra_generations"], c["regenerated_questions"], c["stopped_validated"]) == (5, 2, 2)


def test_zero_rounds_only_validates_and_best_keeps_the_earliest_tie():
    stub = Stub({"a": [0.1, 0.1]})
    traces = run_loop(["a"], ["a-0"], stub.validate, stub.regenerate, rounds=0, temperatures=[])
    assert len(traces[0].attempts) == 1 and not stub.calls and traces[0].stopped == "rounds"
    traces = run_loop(["a"], ["a-0"], stub.validate, stub.regenerate, rounds=1, temperatures=[1.0])
    assert kept(traces[0], "best").text == "a-0"
    with pytest.raises(ValueError, match="policy"):
        kept(traces[0], "first")
    with pytest.raises(ValueError, match="schedule"):
        run_loop(["a"], ["a-0"], stub.validate, stub.regenerate, rounds=1, temperatures=[])


def test_oracle_regenerates_exactly_the_truly_wrong():
    truth = {"a": "A", "b": "B"}
    calls = []

    def oracle(questions, answers):
        return [float(x == truth[q]) for q, x in zip(questions, answers, strict=True)]

    def regenerate(questions, contexts, temperature):
        calls.append(list(questions))
        return [truth[q] for q in questions]

    traces = run_loop(["a", "b"], ["A", "wrong"], oracle, regenerate, rounds=2, temperatures=[1.0])
    assert calls == [["b"]] and [kept(t, "best").text for t in traces] == ["A", "B"]


def test_outcome_counts():
    o = outcome_counts(["x", "y", "z"], ["x", "Y2", "z2"], [True, False, True], [True, True, False])
    assert o == {"changed": 2, "fixed": 1, "broken": 1, "n": 3}
