"""Judges can skip a pair, mark "both bad" and flag a pair: stored through HTTP, counted as
fcmatch.study.verdicts documents (skips left out of every figure, "both bad" a tie), shown on the
results page and in every export (the migration of older databases: tests/test_store.py). The HTTP tests run on SQLite and on PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import pg
from fcmatch.judge.judgements import read_comparisons, read_match_study
from fcmatch.store import open_sessions
from fcmatch.store.study_tables import VERDICTS, Verdict
from fcmatch.study.assignment import current_assignment, progress, record_verdict, schedule
from fcmatch.study.create import StudyConfig, create_study, invite_judge
from fcmatch.study.demo import write_demo_files
from fcmatch.study.export import export_study, study_judgements, study_summary
from fcmatch.study.results import study_results
from fcmatch.study.verdicts import LABELS, analysed_verdict
from fcmatch.web.app import create_app
from loadtest import synthetic_maps

any_db_url = pg.any_db_url

ADMIN = "verdict-options-admin-token"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
JSON = {"Accept": "application/json"}


def test_every_verdict_has_a_label_and_an_analysed_form():
    assert set(LABELS) == set(VERDICTS)
    assert [analysed_verdict(v) for v in VERDICTS] == ["A", "B", "tie", "tie", None]
    with pytest.raises(ValueError, match="verdict must be one of"):
        analysed_verdict("neither")


@pytest.fixture
def judged(tmp_path: Path, any_db_url: str):
    """alice answers A, both bad (flagged, with a comment), skip (flagged), tie over HTTP; bob answers A."""
    files = write_demo_files(tmp_path / "maps", n_sentences=4)
    app = create_app(any_db_url, admin_token=ADMIN)
    client = TestClient(app)
    uploads = [("files", (p.name, p.read_bytes(), "application/json")) for p in files]
    r = client.post("/admin/studies", files=uploads, data={"name": "opts", "per_judge": "4"}, headers=BEARER,
                    follow_redirects=False)
    study = int(r.headers["location"].rsplit("/", 1)[1])
    links = client.post(f"/admin/studies/{study}/judges", data={"names": "alice\nbob"},
                        headers={**BEARER, **JSON}).json()
    tokens = {name: link.rsplit("/", 1)[1] for name, link in links.items()}
    answers = {"alice": [("A", "", ""), ("both_bad", "1", "both miss the drought"), ("skip", "on", ""),
                         ("tie", "", "")], "bob": [("A", "", "")]}
    stored = []
    for name, plan in answers.items():
        nxt = client.get(f"/j/{tokens[name]}/next").json()
        for verdict, flag, comment in plan:
            r = client.post(f"/j/{tokens[name]}/verdict", headers=JSON,
                            data={"assignment": nxt["assignment"], "verdict": verdict, "flag": flag,
                                  "comment": comment, "csrf": nxt["csrf"]})
            assert r.status_code == 200, r.text
            assert r.json()["verdict"] == verdict and r.json()["flagged"] is bool(flag)
            stored.append((name, nxt["assignment"], verdict))
            nxt = r.json()["next"]
    yield client, study, tokens, stored
    app.state.engine.dispose()


def test_skip_and_both_bad_are_stored_and_count_as_done(judged):
    client, _, tokens, stored = judged
    nxt = client.get(f"/j/{tokens['alice']}/next").json()
    assert nxt["done"] == 4 and nxt["assignment"] is None  # the skip used up its slot
    assert "All done" in client.get(f"/j/{tokens['alice']}").text
    with client.app.state.sessions() as session:
        rows = {(v.assignment.judge.name, v.verdict, v.flagged) for v in session.query(Verdict)}
    assert rows == {("alice", "A", False), ("alice", "both_bad", True), ("alice", "skip", True),
                    ("alice", "tie", False), ("bob", "A", False)}
    # a second, different answer to a skipped pair is a conflict like any other
    skipped = next(a for name, a, v in stored if v == "skip")
    r = client.post(f"/j/{tokens['alice']}/verdict", headers=JSON,
                    data={"assignment": skipped, "verdict": "A", "csrf": nxt["csrf"]})
    assert r.status_code == 409 and "'skip'" in r.json()["detail"]
    page = client.post(f"/j/{tokens['alice']}/verdict", data={"assignment": skipped, "verdict": "A", "csrf": nxt["csrf"]})
    assert page.status_code == 409 and "“Skipped”" in page.text


def test_unknown_verdict_is_a_422(judged):
    client, _, tokens, _ = judged
    nxt = client.get(f"/j/{tokens['bob']}/next").json()
    r = client.post(f"/j/{tokens['bob']}/verdict", headers=JSON,
                    data={"assignment": nxt["assignment"], "verdict": "neither", "csrf": nxt["csrf"]})
    assert r.status_code == 422 and "both_bad" in r.json()["detail"]


def test_judge_page_offers_both_bad_skip_and_flag(judged):
    client, _, tokens, _ = judged
    page = client.get(f"/j/{tokens['bob']}").text
    for needle in ('value="both_bad"', 'id="btn-both-bad"', 'value="skip"', 'id="btn-skip"', 'name="flag"'):
        assert needle in page


def test_skips_are_left_out_and_both_bad_is_a_tie_everywhere(judged, tmp_path: Path):
    client, study_id, _, _ = judged
    with client.app.state.sessions() as session:
        from fcmatch.study.create import get_study

        study = get_study(session, study_id)
        data = study_judgements(session, study)
        results = study_results(session, study)
        export_study(session, study, tmp_path / "v.jsonl")
        export_study(session, study, tmp_path / "v.csv")
        export_study(session, study, tmp_path / "folder")
        summary = study_summary(session, study)
    assert {k: summary[k] for k in ("sentences", "maps", "judges", "verdicts")} == {
        "sentences": 4, "maps": 12, "judges": 2, "verdicts": 5}  # counted in SQL, the skip included
    assert [(c.judge, c.verdict) for c in data.judgements] == [("alice", "A"), ("alice", "tie"), ("alice", "tie"),
                                                              ("bob", "A")]
    assert results["n_verdicts"] == 4 and results["n_ties"] == 2
    assert (results["n_both_bad"], results["n_skipped"], results["n_flagged"]) == (1, 1, 2)
    assert [(c["verdict"], c["flagged"], c["comment"]) for c in results["comments"]] == [
        ("both bad", True, "both miss the drought"), ("skipped", True, "")]
    # JSONL: what the comparison readers take (no skip), the judge's own word in "choice"
    records = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [(r["verdict"], r["choice"], r["flagged"]) for r in records] == [
        ("A", "A", False), ("tie", "both_bad", True), ("tie", "tie", False), ("A", "A", False)]
    assert [c.verdict for c in read_comparisons(tmp_path / "v.jsonl")] == ["A", "tie", "tie", "A"]
    # CSV: every row a judge gave, the skip with an empty verdict
    rows = list(csv.DictReader(io.StringIO((tmp_path / "v.csv").read_text())))
    assert [(r["verdict"], r["choice"], r["flagged"]) for r in rows] == [
        ("A", "A", "False"), ("tie", "both_bad", "True"), ("", "skip", "True"), ("tie", "tie", "False"),
        ("A", "A", "False")]
    # the MATCH folder reads back as the database does ("both bad" as MATCH's Tie)
    folder = read_match_study(tmp_path / "folder")
    assert [(c.judge, c.verdict) for c in folder.judgements] == [(c.judge, c.verdict) for c in data.judgements]
    html = client.get(f"/admin/studies/{study_id}/results", headers=BEARER).text
    assert "4 verdicts (2 ties)" in html and "1 “both bad” (counted as ties) · 1 skipped" in html
    assert "⚑ flagged" in html and "both miss the drought" in html and 'id="leaderboard"' in html
    assert [r["n"] for r in results["leaderboard"]] and sum(r["n"] for r in results["leaderboard"]) == 2 * 4
    download = client.get(f"/admin/studies/{study_id}/export.csv", headers=BEARER).text
    assert download.count("skip") == 1


def test_a_skipped_pair_is_never_the_one_repeated(tmp_path: Path):
    sessions = open_sessions(f"sqlite:///{tmp_path / 's.sqlite'}")
    config = StudyConfig("rep", per_judge=6, n_repeats=1, seed=3)
    with sessions.begin() as session:
        study = create_study(session, synthetic_maps(4, 4), config)
        judge, _ = invite_judge(session, study, "ann")
        kinds = schedule(6, 0, 1, 3, judge.id)
        repeat_at = kinds.index("repeat")
        kept = None
        for position in range(repeat_at):
            a = current_assignment(session, judge)
            keep = position == repeat_at - 1  # every earlier pair is skipped but the last
            record_verdict(session, judge, a.id, "A" if keep else "skip")
            kept = (a.item_b_id, a.item_a_id) if keep else kept
        repeat = current_assignment(session, judge)
        assert repeat.kind == "repeat" and (repeat.item_a_id, repeat.item_b_id) == kept
        assert progress(session, judge).done == repeat_at
    sessions.kw["bind"].dispose()
