"""The measure families of fcmatch.judge on hand-made maps (values computed by hand where the node
similarity allows: token F1 or exact), the human ceiling on hand-made verdicts, and the model judge
with the tiny random model (both orders, left padding)."""

from __future__ import annotations

import numpy as np
import pytest

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.judge import llm_judge
from fcmatch.judge.align import align
from fcmatch.judge.ceiling import human_ceiling
from fcmatch.judge.grounding import degenerate, edge_count, grounding_embedding, grounding_lexical, sentence_spans
from fcmatch.judge.judgements import Comparison, JudgementData
from fcmatch.judge.measures import MEASURES
from fcmatch.judge.semantic import bertscore_concepts, bertscore_similarity, soft_match
from fcmatch.judge.structure import direction_f1, graph_edit, node_coverage, sign_agreement

TEXT = "Heavy rain causes floods, and floods cause damage."
TOKEN = {"nodes": "token"}


def cmap(*edges: tuple[str, str, int], text: str = TEXT) -> CausalMap:
    return CausalMap(text, [Edge(c, e, s) for c, e, s in edges])


def test_soft_match_by_hand():
    ref = cmap(("rain", "flood", 1), ("flood", "damage", 1))
    # identical concepts (token F1 1): one exact edge and one sign error at credit 1/2, TP 1.5 of 2 + 2
    assert soft_match(ref, cmap(("rain", "flood", 1), ("flood", "damage", -1)), {**TOKEN, "sign_credit": 0.5}) \
        == pytest.approx(2 * 1.5 / 4)
    # "heavy rain" vs "rain": token F1 2/3; one edge each, TP 2/3
    assert soft_match(cmap(("heavy rain", "flood", 1)), cmap(("rain", "flood", 1)), TOKEN) == pytest.approx(2 / 3)
    # one-to-one: "rain storm" (2/3 like "rain" and like "storm") stands for one of them only
    two = cmap(("rain", "flood", 1), ("storm", "flood", 1))
    assert soft_match(two, cmap(("rain storm", "flood", 1)), TOKEN) == pytest.approx(2 * (2 / 3) / 3)
    assert soft_match(ref, CausalMap(TEXT), TOKEN) == 0.0 and soft_match(CausalMap(TEXT), CausalMap(TEXT), TOKEN) == 1.0


def test_bertscore_concepts_prefers_paraphrases():
    sim = bertscore_similarity(["heavy rain", "heavy rain"], ["heavy rain", "rainfall", "stock market prices"])
    assert sim.shape == (2, 3) and sim[0, 0] == pytest.approx(1.0, abs=1e-4)
    assert sim[0, 1] > sim[0, 2]
    ref = cmap(("heavy rain", "flood", 1))
    assert bertscore_concepts(ref, cmap(("rainfall", "flooding", 1)), {}) > \
        bertscore_concepts(ref, cmap(("stock prices", "inflation", 1)), {})
    assert bertscore_concepts(ref, ref, {}) == pytest.approx(1.0, abs=1e-4)


def test_sign_agreement_and_node_coverage_by_hand():
    ref = cmap(("a", "b", 1), ("b", "c", 1))
    # both edges line up, one with the other sign
    assert sign_agreement(ref, cmap(("a", "b", 1), ("b", "c", -1)), TOKEN) == pytest.approx(0.5)
    assert sign_agreement(ref, cmap(("b", "a", 1)), TOKEN) == 0.0  # reversed: nothing lines up
    assert sign_agreement(ref, ref, TOKEN) == 1.0
    assert node_coverage(ref, cmap(("a", "b", 1)), TOKEN) == pytest.approx(2 / 3)
    assert node_coverage(ref, cmap(("x", "y", 1)), TOKEN) == 0.0
    assert node_coverage(CausalMap(TEXT), CausalMap(TEXT), TOKEN) == 1.0


def test_direction_f1_penalises_swapped_edges():
    ref = cmap(("a", "b", 1))
    cand = cmap(("a", "b", 1), ("b", "a", 1))
    exact = {"nodes": "exact"}
    # P 1/2, R 1: F1 2/3; half the candidate's edges reverse a reference edge
    assert direction_f1(ref, cand, {**exact, "penalty": 0.0}) == pytest.approx(2 / 3)
    assert direction_f1(ref, cand, {**exact, "penalty": 1.0}) == pytest.approx(2 / 3 * 0.5)
    assert direction_f1(ref, ref, exact) == 1.0


def test_graph_edit_by_hand():
    exact = {"nodes": "exact"}
    one = cmap(("a", "b", 1))
    # two nodes and one edge a side: the normaliser (delete all, insert all) is 6
    assert graph_edit(one, one, exact) == 1.0
    assert graph_edit(one, cmap(("a", "b", -1)), {**exact, "sign_cost": 1.0}) == pytest.approx(1 - 1 / 6)
    assert graph_edit(one, cmap(("a", "b", -1)), {**exact, "sign_cost": 0.5}) == pytest.approx(1 - 0.5 / 6)
    # other concepts: substituting both nodes (cost 1 each) beats deleting and inserting everything
    assert graph_edit(one, cmap(("c", "d", 1)), exact) == pytest.approx(1 - 2 / 6)
    # a missing edge and node: delete node c (1) and edge b->c (1) out of 3 + 2 + 2 + 1
    assert graph_edit(cmap(("a", "b", 1), ("b", "c", 1)), one, exact) == pytest.approx(1 - 2 / 8)
    assert graph_edit(one, CausalMap(TEXT), exact) == 0.0


def test_reference_free_measures_by_hand():
    assert sentence_spans("Rain causes floods.", 2) == ["rain", "rain causes", "causes", "causes floods", "floods"]
    copied = cmap(("heavy rain", "floods", 1))
    foreign = cmap(("colostrum", "infant diseases", -1))
    assert grounding_lexical(None, copied, {}) == 1.0 and grounding_lexical(None, foreign, {}) == 0.0
    assert grounding_embedding(None, copied, {}) == pytest.approx(1.0, abs=1e-5)  # every concept is a span
    assert grounding_embedding(None, foreign, {}) < 0.6
    assert degenerate(None, cmap(("a", "b", 1), ("b", "a", 1), ("c", "d", 1)), {}) == pytest.approx(1 / 3)
    assert [edge_count(None, cmap(*[(str(k), "x", 1) for k in range(n)]), {}) for n in (0, 1, 3)] == [0, 0.5, 0.75]
    for name in ("grounding_lexical", "grounding_embedding", "degenerate", "edge_count"):
        assert MEASURES[name].reference_free


def test_human_ceiling_by_hand():
    def rel(judge, pair, verdict):
        return Comparison(judge, *pair, verdict)

    p1, p2 = ("1/x", "1/y"), ("2/x", "2/y")
    data = JudgementData({}, {}, [], [
        rel("j1", p1, "A"), rel("j2", p1, "A"), rel("j3", p1, "B"),
        rel("j1", p2, "A"), rel("j2", p2, "tie"), rel("j3", p2, "A"),
    ])
    # p1: j1 and j2 each see the others split (1/2), j3 sees two against (0); p2: j1 and j3 agree with the
    # one other non-tie verdict (1 each), j2 said tie and is left out
    out = human_ceiling(data)
    assert out["pairwise_accuracy"] == pytest.approx((0.5 + 0.5 + 0 + 1 + 1) / 5)
    assert out["per_judge"] == {"j1": pytest.approx(0.75), "j2": 0.5, "j3": 0.5}
    assert out["verdicts"] == 5 and out["pairs"] == 2
    assert human_ceiling(JudgementData({}, {}, [])) is None


def test_model_judge_averages_both_orders(monkeypatch, tmp_path):
    from test_align import tiny_study

    monkeypatch.setattr("fcmatch.models.load", lambda name: (None, None))
    # a judge that always answers A: position bias 0.9, which both orders cancel into ties
    monkeypatch.setattr(llm_judge, "first_preferred", lambda model, tok, prompts, batch: np.full(len(prompts), 0.9))
    study = tiny_study(tmp_path)
    out = align(study, ["llm_judge"])["measures"]["llm_judge"]
    assert out["pairwise_accuracy"] == 0.5 and out["params_all"]["position_bias"] == pytest.approx(0.9)
    # one pair asked per sentence: only its verdict counts (one of three per sentence)
    monkeypatch.setitem(MEASURES, "llm_judge", llm_judge.ModelJudge(max_pairs=1))
    assert align(study, ["llm_judge"])["measures"]["llm_judge"]["verdicts"] == 2


def test_model_judge_with_the_tiny_model(tiny_model_dir, tmp_path, monkeypatch):
    from fcmatch.models import load
    from test_align import tiny_study

    model, tokenizer = load(str(tiny_model_dir))
    short = llm_judge.prompt("Rain.", cmap(("rain", "flood", 1)), CausalMap("Rain."), 12)
    long = llm_judge.prompt(TEXT, cmap(("rain", "flood", 1), ("flood", "damage", -1)), cmap(("a", "b", 1)), 12)
    batched = llm_judge.first_preferred(model, tokenizer, [short, long], batch_size=2)
    alone = np.concatenate([llm_judge.first_preferred(model, tokenizer, [p], batch_size=1) for p in (short, long)])
    np.testing.assert_allclose(batched, alone, atol=1e-5)  # left padding changes nothing
    assert ((batched > 0) & (batched < 1)).all()
    monkeypatch.setitem(MEASURES, "llm_judge", llm_judge.ModelJudge(model=str(tiny_model_dir)))
    study = tiny_study(tmp_path)
    out = align(study, ["llm_judge"])["measures"]["llm_judge"]
    assert out["verdicts"] == 6 and 0 <= out["pairwise_accuracy"] <= 1
    family = MEASURES["llm_judge"].family(*_bound(study))
    pref = family.pref["1"]
    np.testing.assert_allclose(pref + pref.T, 1.0)


def _bound(study):
    from fcmatch.judge.judgements import read_match_study
    from fcmatch.judge.tables import sentences_of

    data = read_match_study(study)
    return data, sentences_of(data)


def test_describe_caps_long_maps():
    text = llm_judge.describe(cmap(*[(f"c{k}", "e", 1) for k in range(4)]), 2)
    assert text.splitlines() == ["- c0 -> e (+)", "- c1 -> e (+)", "- ... (2 more)"]
    assert llm_judge.describe(CausalMap(TEXT), 5) == "- (no edges)"
