"""fcmatch.fcm.inference: FCM updates on hand-computed maps, the R ``fcm`` package vignette's published
example, fixed points, limit cycles, "chaotic" (no attractor in the budget), clamping and what-if scenarios.

The published example: Dikopoulou & Papageorgiou, "Inference of Fuzzy Cognitive Maps (FCMs)", the vignette
of the CRAN package fcm (version of 2017-07-10), Examples 1 and 2. Its printed results are quoted below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fcmatch.fcm.corpus import Concept, CorpusEdge, CorpusMap, Evidence
from fcmatch.fcm.inference import RULES, TRANSFERS, resolve, simulate, weight_matrix, what_if

# the vignette's weight matrix, rows = cause C1..C6, columns = effect
VIGNETTE_W = np.array([
    [0.0, 0.0, 0.6, 0.9, 0.0, 0.0],
    [0.1, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 0.7, 0.0, 0.0, 0.9, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.9],
    [0.0, 0.0, 0.0, 0.0, 0.0, -0.9],
    [-0.3, 0.0, 0.0, 0.0, 0.0, 0.0],
])
VIGNETTE_A = [1, 1, 1, 0, 0, 0]


def test_vignette_first_kosko_step_by_hand():
    run = simulate(VIGNETTE_W, VIGNETTE_A, "sigmoid", "kosko", max_steps=1)
    # A W = (0.1, 0.7, 0.6, 0.9, 0.9, 0.9 - 0.9): sigmoid of each
    expected = [1 / (1 + math.exp(-x)) for x in (0.1, 0.7, 0.6, 0.9, 0.9, 0.0)]
    assert run.states[1] == pytest.approx(expected)
    assert np.round(run.states[1], 4).tolist() == [0.525, 0.6682, 0.6457, 0.7109, 0.7109, 0.5]


def test_vignette_example_1_kosko_sigmoid():
    # fcm.infer(act.vec, w.mat): "converged in the 6th state (e <= 0.001000)"
    run = simulate(VIGNETTE_W, VIGNETTE_A, "sigmoid", "kosko", tolerance=1e-3)
    assert (run.outcome, len(run.states)) == ("fixed_point", 6)
    assert run.steady == pytest.approx([0.4778365, 0.5986462, 0.5712033, 0.6059079, 0.6257586, 0.4955168],
                                       abs=5e-8)


def test_vignette_example_2_rescaled_sigmoid_lambda_2():
    # fcm.infer(act.vec, w.mat, 35, "r", "s", lambda = 2, e = 0.0001): "converged in the 30th state"
    run = simulate(VIGNETTE_W, VIGNETTE_A, "sigmoid", "rescaled", steepness=2.0, tolerance=1e-4)
    assert (run.outcome, len(run.states)) == ("fixed_point", 30)
    assert run.states[1] == pytest.approx([0.9426758, 0.9677045, 0.9608343, 0.4501660, 0.4501660, 0.1192029],
                                          abs=5e-8)
    assert run.steady == pytest.approx([0.8654104, 0.9534946, 0.9309104, 0.9589686, 0.9684847, 0.3186077],
                                       abs=5e-8)


def test_modified_kosko_two_concepts_by_hand():
    w = np.array([[0.0, 0.5], [0.0, 0.0]])
    run = simulate(w, [1.0, 0.0], "tanh", "modified", max_steps=1)
    # A + A W = (1 + 0, 0 + 0.5)
    assert run.states[1] == pytest.approx([math.tanh(1.0), math.tanh(0.5)])


def test_transfer_functions():
    x = np.array([-2.0, 0.0, 0.5])
    assert TRANSFERS["bivalent"](x, 1.0).tolist() == [0.0, 0.0, 1.0]
    assert TRANSFERS["trivalent"](x, 1.0).tolist() == [-1.0, 0.0, 1.0]
    assert TRANSFERS["sigmoid"](x, 2.0) == pytest.approx([1 / (1 + math.exp(4)), 0.5, 1 / (1 + math.exp(-1))])
    assert TRANSFERS["tanh"](x, 1.0) == pytest.approx(np.tanh(x))
    assert set(RULES) == {"kosko", "modified", "rescaled"}


def test_limit_cycle_of_a_negative_loop():
    # A -> B positive, B -> A negative, trivalent Kosko: A' = sign(-B), B' = sign(A)
    w = np.array([[0.0, 1.0], [-1.0, 0.0]])
    run = simulate(w, [1.0, 0.0], "trivalent", "kosko")
    # (1,0) -> (0,1) -> (-1,0) -> (0,-1) -> (1,0): period 4
    assert run.states[:5].tolist() == [[1, 0], [0, 1], [-1, 0], [0, -1], [1, 0]]
    assert (run.outcome, run.period) == ("limit_cycle", 4)
    assert run.steady == pytest.approx([0.0, 0.0])


def test_fixed_point_of_bivalent_chain():
    w = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    run = simulate(w, [1.0, 0.0, 0.0], "bivalent", "modified")
    # (1,0,0) -> (1,1,0) -> (1,1,1) -> (1,1,1)
    assert run.states.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]]
    assert (run.outcome, run.period) == ("fixed_point", 1)


def test_no_attractor_within_budget_is_chaotic():
    # the same negative loop with tanh spirals for many steps; five are not enough to settle
    w = np.array([[0.0, 1.0], [-1.0, 0.0]])
    run = simulate(w, [0.9, 0.1], "tanh", "kosko", steepness=3.0, max_steps=5, tolerance=1e-12)
    assert (run.outcome, run.period, len(run.states)) == ("chaotic", 0, 6)


def test_clamp_holds_a_concept():
    w = np.array([[0.0, -1.0], [1.0, 0.0]])
    run = simulate(w, [0.0, 0.0], "bivalent", "kosko", clamp={0: 1.0})
    # A stays 1, B = [1 * -1 > 0] = 0; A' would be [0 > 0] = 0 without the clamp
    assert run.states[-1].tolist() == [1.0, 0.0] and run.outcome == "fixed_point"


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown transfer"):
        simulate(np.zeros((2, 2)), [0, 0], transfer="relu")
    with pytest.raises(ValueError, match="unknown rule"):
        simulate(np.zeros((2, 2)), [0, 0], rule="stylios")
    with pytest.raises(ValueError, match=r"\(n, n\)"):
        simulate(np.zeros((2, 3)), [0, 0])


def _corpus() -> CorpusMap:
    """rain -(+, 2 sentences)-> yield, drought -(-, 1 sentence)-> yield; yield's forms include "harvest"."""
    def ev(sign: int) -> Evidence:
        return Evidence("s", "a", "b", sign, "gold")

    concepts = {"r": Concept("r", "rain", {"rain": 2}), "y": Concept("y", "yield", {"yield": 2, "harvest": 1}),
                "d": Concept("d", "drought", {"drought": 1})}
    edges = [CorpusEdge("r", "y", [ev(1), ev(1)]), CorpusEdge("d", "y", [ev(-1)])]
    return CorpusMap(concepts, edges, {"weight_prior": 1.0})


def test_weight_matrix_scales_by_largest_weight():
    ids, w = weight_matrix(_corpus())
    assert ids == ["r", "y", "d"]
    # raw weights 2/3 and -1/2, divided by 2/3
    assert w[0, 1] == pytest.approx(1.0) and w[2, 1] == pytest.approx(-0.75) and np.count_nonzero(w) == 2
    assert not weight_matrix(CorpusMap({"a": Concept("a", "a")}))[1].any()


def test_what_if_compares_with_baseline():
    result = what_if(_corpus(), {"Drought": 1.0}, initial=0.0, transfer="sigmoid", rule="kosko")
    # baseline from zeros, Kosko: r = d = sigmoid(0) = 0.5, y = sigmoid(0.5 * 1 - 0.5 * 0.75) = sigmoid(0.125)
    assert result.baseline.steady == pytest.approx([0.5, 1 / (1 + math.exp(-0.125)), 0.5], abs=1e-5)
    # drought held at 1: y = sigmoid(0.5 - 0.75)
    assert result.scenario.steady == pytest.approx([0.5, 1 / (1 + math.exp(0.25)), 1.0], abs=1e-5)
    rows = {r["concept"]: r for r in result.to_dict()["concepts"]}
    assert rows["yield"]["delta"] == pytest.approx(1 / (1 + math.exp(0.25)) - 1 / (1 + math.exp(-0.125)), abs=1e-5)
    assert result.clamp == {"drought": 1.0}


def test_resolve_by_id_name_or_surface_form():
    corpus = _corpus()
    assert resolve(corpus, {"y": 1, "Harvest": 0.5, "rain.": 0}) == {"y": 0.5, "r": 0.0}
    with pytest.raises(ValueError, match="'flood': no concept"):
        resolve(corpus, {"flood": 1})
