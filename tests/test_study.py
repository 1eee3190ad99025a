"""The judging-study library (set-up, schedules, assignment) and the ``fcmatch study`` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from fcmatch.cli import main
from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.judge.judgements import read_comparisons
from fcmatch.store.engine import make_engine, session_factory
from fcmatch.store.schema import init_db
from fcmatch.store.study_tables import Assignment
from fcmatch.study.assignment import current_assignment, progress, record_verdict, schedule
from fcmatch.study.create import StudyConfig, create_study, invite_judge, judge_by_token, load_labelled_maps
from fcmatch.study.demo import write_demo_files
from loadtest import synthetic_maps


@pytest.fixture
def sessions(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 's.sqlite'}")
    init_db(engine)
    yield session_factory(engine)
    engine.dispose()


def _judge_all(session, judge, verdict="A") -> list[Assignment]:
    done = []
    while (a := current_assignment(session, judge)) is not None:
        record_verdict(session, judge, a.id, verdict)
        done.append(a)
    return done


def test_schedule_places_repeats_in_second_half():
    kinds = schedule(20, 3, 4, seed=1, judge_id=7)
    assert len(kinds) == 20 and kinds.count("common") == 3 and kinds.count("repeat") == 4
    assert all(k != "repeat" for k in kinds[:10])
    assert schedule(20, 3, 4, seed=1, judge_id=7) == kinds  # seeded


@pytest.mark.parametrize("pairing", ["random", "adaptive"])
def test_judges_get_distinct_pairs_common_set_and_swapped_repeats(sessions, pairing):
    config = StudyConfig("s", per_judge=20, pairing=pairing, n_repeats=3, n_common=4, seed=5)
    with sessions.begin() as session:
        study = create_study(session, synthetic_maps(5, 4), config)
        judges = [invite_judge(session, study, name)[0] for name in ("ann", "ben")]
        runs = {j.name: _judge_all(session, j) for j in judges}
        common = {frozenset(p) for p in study.common()}
        for judge in judges:
            mine = runs[judge.name]
            assert len(mine) == 20 and progress(session, judge).finished
            new = [frozenset((a.item_a_id, a.item_b_id)) for a in mine if a.kind != "repeat"]
            assert len(new) == len(set(new)) == 17  # no pair twice except the deliberate repeats
            assert {frozenset((a.item_a_id, a.item_b_id)) for a in mine if a.kind == "common"} == common
            earlier = {(a.item_a_id, a.item_b_id) for a in mine if a.kind != "repeat"}
            repeats = [a for a in mine if a.kind == "repeat"]
            assert len(repeats) == 3 and all((r.item_b_id, r.item_a_id) in earlier for r in repeats)
            for a in mine:  # both maps of a pair belong to one sentence
                assert a.item_a.sentence_id == a.item_b.sentence_id


def test_judge_finishes_early_when_pairs_run_out(sessions):
    maps = [CausalMap("only sentence", [Edge("x", "y", s)], lab) for lab, s in (("p", 1), ("q", -1), ("r", 1))]
    with sessions.begin() as session:
        study = create_study(session, maps, StudyConfig("tiny", per_judge=10))
        assert study.per_judge == 3  # capped by the 3 pairs there are
        judge = invite_judge(session, study, "solo")[0]
        assert len(_judge_all(session, judge)) == 3


def test_config_errors_name_the_flag():
    with pytest.raises(ValueError, match="--repeats"):
        StudyConfig(per_judge=4, n_repeats=3).validate()
    with pytest.raises(ValueError, match="--pairing"):
        StudyConfig(pairing="elo").validate()


def test_duplicate_judge_name_is_rejected(sessions):
    with sessions.begin() as session:
        study = create_study(session, synthetic_maps(1, 2), StudyConfig())
        invite_judge(session, study, "ann")
        with pytest.raises(ValueError, match="already has a judge"):
            invite_judge(session, study, "ann")


def test_load_labelled_maps_uses_file_stem_for_jsonl(tmp_path: Path):
    files = write_demo_files(tmp_path, n_sentences=2)
    maps = load_labelled_maps(files)
    assert sorted({m.source for m in maps}) == ["careful", "flipped", "terse"]
    with pytest.raises(FileNotFoundError):
        load_labelled_maps([tmp_path / "missing.jsonl"])


def test_study_cli_end_to_end(tmp_path: Path, capsys):
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    files = [str(p) for p in write_demo_files(tmp_path / "maps", n_sentences=3)]
    assert main(["study", "--db", db, "create", *files, "--name", "cli", "--per-judge", "4", "--repeats", "1"]) == 0
    assert main(["study", "--db", db, "invite", "1", "ann", "--base-url", "http://example.test"]) == 0
    out = capsys.readouterr().out
    assert "3 sentences, 9 maps" in out and "ann\thttp://example.test/j/" in out
    token = out.strip().rsplit("/j/", 1)[1]
    engine = make_engine(db)
    with session_factory(engine).begin() as session:
        judge = judge_by_token(session, token)
        _judge_all(session, judge, "B")
        assert session.scalar(select(Assignment.id).limit(1)) is not None
    engine.dispose()
    export = tmp_path / "out.jsonl"
    assert main(["study", "--db", db, "export", "1", str(export)]) == 0
    comparisons = read_comparisons(export)
    assert len(comparisons) == 4 and {c.verdict for c in comparisons} == {"B"} and {c.judge for c in comparisons} == {"ann"}
    assert json.loads(export.read_text().splitlines()[-1])["kind"] == "repeat"
    assert main(["study", "--db", db, "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["verdicts"] == 4
    assert main(["study", "--db", db, "export", "7", str(export)]) == 1  # no such study: an error, not a traceback


def test_judge_agreement_and_win_rates_by_hand():
    from fcmatch.judge.judgements import Comparison
    from fcmatch.study.judges import judge_rows, win_rates

    comps = [
        Comparison("ann", "1/p", "1/q", "A"), Comparison("bob", "1/q", "1/p", "B"),  # both: p beats q
        Comparison("cat", "1/p", "1/q", "B"),  # cat: q beats p, against the others
        Comparison("ann", "1/p", "1/r", "tie"),  # nobody else judged p vs r
    ]
    rows = {r["judge"]: r for r in judge_rows(comps)}
    # ann on p-q: bob says p, cat says q -> split evenly, left out; p-r: no one else judged it
    assert rows["ann"] == {"judge": "ann", "verdicts": 2, "ties": 1, "shared": 0, "agreement": None}
    assert rows["bob"]["shared"] == 0 and rows["bob"]["agreement"] is None  # ann and cat split on p-q
    assert rows["cat"] == {"judge": "cat", "verdicts": 1, "ties": 0, "shared": 1, "agreement": 0.0}
    wins = win_rates(comps)
    assert wins["labelers"] == ["p", "q", "r"]
    p, q, r = 0, 1, 2
    assert wins["rates"][p][q] == 2 / 3 and wins["rates"][q][p] == 1 / 3  # 2 of 3 verdicts for p
    assert wins["rates"][p][r] == 0.5 and wins["rates"][q][r] is None and wins["counts"][p][q] == 3
