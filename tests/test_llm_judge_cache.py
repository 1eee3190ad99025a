"""The model judge's answer cache: a rerun asks the model nothing, a torn last line is asked again,
a corrupt line is an error naming file and line, and cached figures equal uncached ones."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from fcmatch.judge import llm_judge
from fcmatch.judge.align import align
from fcmatch.judge.measures import MEASURES


def _fake(monkeypatch):
    """A judge whose p(A) depends on the prompt (so pairs differ); counts prompts asked and loads."""
    calls = {"prompts": 0, "loads": 0}

    def load(name):
        calls["loads"] += 1
        return None, None

    def first_preferred(model, tok, prompts, batch):
        calls["prompts"] += len(prompts)
        return np.array([0.2 + 0.6 * (len(p) % 7) / 6 for p in prompts])

    monkeypatch.setattr("fcmatch.models.load", load)
    monkeypatch.setattr(llm_judge, "first_preferred", first_preferred)
    return calls


def test_cache_reruns_ask_nothing(monkeypatch, tmp_path):
    from test_align import tiny_study

    calls = _fake(monkeypatch)
    study = tiny_study(tmp_path / "study")
    plain = align(study, ["llm_judge"])["measures"]["llm_judge"]
    asked = calls["prompts"]
    assert asked == 12  # 3 pairs x 2 orders x 2 sentences
    cache = tmp_path / "cache.jsonl"
    monkeypatch.setitem(MEASURES, "llm_judge", replace(MEASURES["llm_judge"], cache=str(cache), batch_size=2))
    first = align(study, ["llm_judge"])["measures"]["llm_judge"]
    # maps A and B are equal, so some prompts repeat: each distinct prompt is asked once
    lines = cache.read_text().splitlines()
    assert calls["prompts"] - asked == len(lines) < 12
    assert first["pairwise_accuracy"] == plain["pairwise_accuracy"]
    assert first["params_all"]["position_bias"] == pytest.approx(plain["params_all"]["position_bias"])
    before = dict(calls)
    again = align(study, ["llm_judge"])["measures"]["llm_judge"]
    assert calls == before  # neither loaded nor asked
    assert again["pairwise_accuracy"] == first["pairwise_accuracy"]


def test_torn_last_line_is_asked_again(monkeypatch, tmp_path):
    calls = _fake(monkeypatch)
    cache = tmp_path / "cache.jsonl"
    judge = llm_judge.ModelJudge(cache=str(cache))
    full = llm_judge.cached_answers(judge, ["p1", "p22", "p333"])
    cache.write_text(cache.read_text()[:-10])  # killed mid-write
    assert len(llm_judge.read_cache(cache)) == 2
    asked = calls["prompts"]
    np.testing.assert_allclose(llm_judge.cached_answers(judge, ["p1", "p22", "p333"]), full)
    assert calls["prompts"] - asked == 1
    assert len(cache.read_text().splitlines()) == 3 and len(llm_judge.read_cache(cache)) == 3


def test_corrupt_line_names_file_and_line(tmp_path):
    cache = tmp_path / "cache.jsonl"
    cache.write_text('{"key": "a", "p_first": 0.5}\nnot json\n' + json.dumps({"key": "b", "p_first": 0.1}) + "\n")
    with pytest.raises(ValueError, match=r"cache.jsonl:2: not a model-judge cache line"):
        llm_judge.read_cache(cache)
    assert llm_judge.read_cache(tmp_path / "missing.jsonl") == {}


def test_key_depends_on_model_and_prompt():
    keys = {llm_judge.cache_key(m, p) for m in ("a", "b") for p in ("x", "y")}
    assert len(keys) == 4
