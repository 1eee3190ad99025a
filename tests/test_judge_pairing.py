"""Pairing strategies: contract (never a seen pair, None when exhausted, groups) and a simulation
showing adaptive pairing recovers a known ranking with fewer comparisons than random pairing."""

from __future__ import annotations

import numpy as np
import pytest

from fcmatch.judge.judgements import Comparison, sentence_of
from fcmatch.judge.pairing import PAIRING, open_pairs
from fcmatch.judge.simulation import comparisons_to_reach, simulate_judging


@pytest.mark.parametrize("name", sorted(PAIRING))
def test_strategy_contract(name):
    propose = PAIRING[name]
    rng = np.random.default_rng(0)
    items = ["a", "b", "c", "d"]
    comps: list[Comparison] = [Comparison("other", "a", "b", "A")]
    seen = set()
    for _ in range(6):
        pair = propose(items, comps, "me", rng)
        assert pair is not None and pair[0] != pair[1] and set(pair) <= set(items)
        assert frozenset(pair) not in seen
        seen.add(frozenset(pair))
        comps.append(Comparison("me", pair[0], pair[1], "tie"))
    assert len(seen) == 6
    assert propose(items, comps, "me", rng) is None
    # another judge still has pairs to see, including the one "other" judged only if not by them
    assert propose(items, comps, "other", rng) in {p for p in open_pairs(items, comps, "other")} | {
        (b, a) for a, b in open_pairs(items, comps, "other")
    }


@pytest.mark.parametrize("name", sorted(PAIRING))
def test_groups_keep_sentences_apart(name):
    items = ["1/x", "1/y", "2/x", "2/y"]
    rng = np.random.default_rng(1)
    for _ in range(5):
        a, b = PAIRING[name](items, [], "me", rng, group=sentence_of)
        assert sentence_of(a) == sentence_of(b)


def test_adaptive_prefers_unexposed_items():
    # a and b compared many times; c and d never: the next pair should involve c or d
    comps = [Comparison(f"j{k}", "a", "b", "A" if k % 2 else "B") for k in range(10)]
    pair = PAIRING["adaptive"](["a", "b", "c", "d"], comps, "me", np.random.default_rng(0))
    assert set(pair) == {"c", "d"}


def test_adaptive_beats_random_in_simulation():
    # 16 items with known strengths, BT-Davidson judges; comparisons needed to reach Spearman 0.8
    # (capped at 72 when never reached), averaged over 10 seeds. Measured: random 42.4, adaptive 35.2.
    needed = {}
    for name in ("random", "adaptive"):
        runs = []
        for seed in range(10):
            truth = np.random.default_rng(100 + seed).normal(0, 2.0, 16)
            curve = simulate_judging(name, truth, 64, np.random.default_rng(seed), every=8)
            runs.append(comparisons_to_reach(curve, 0.8) or 72)
        needed[name] = np.mean(runs)
    assert needed["adaptive"] < needed["random"]
