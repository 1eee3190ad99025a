"""The whole loop: a study made from MATCH-format files, verdicts given over HTTP, and the verdicts read
back by ``fcmatch align`` / ``fcmatch judge report`` from the database and from every export format,
with the MATCH sentence numbers as ids throughout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fcmatch.cli import main
from fcmatch.judge.judgements import read_comparisons, read_match_study
from fcmatch.store.study_tables import Assignment
from fcmatch.web.app import create_app

ADMIN = "loop-admin-token-0123"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
# MATCH numbers its sentences 1..20 and ships some of them: ids with gaps, as in ../shared/data/match
SENTENCES = {2: "Rain raises the river.", 5: "Drought lowers yields and raises prices.", 11: "Heat kills crops."}
MAPS = {
    "Human1": {2: [("rain", "river", "increase")], 5: [("drought", "yields", "decrease"), ("drought", "prices", "increase")],
               11: [("heat", "crops", "decrease")]},
    "Human2": {2: [("rain", "river level", "Increase")], 5: [("drought", "yields", "Decrease")],
               11: [("heat", "crops", "tokens.")]},  # an unknown direction: reported, not lost silently
    "mistral": {2: [("river", "rain", "positive")], 5: [("prices", "drought", "positive")],
                11: [("heat", "crops", "negative")]},
}


def write_match_data(root: Path) -> Path:
    """A MATCH-layout folder: three labelers' annotations and one judge file that numbers the sentences."""
    (root / "annotations").mkdir(parents=True)
    (root / "judgements").mkdir()
    for labeler, per in MAPS.items():
        records = [{"text": SENTENCES[n], "causal relations": [{"src": s, "tgt": t, "direction": d} for s, t, d in edges],
                    "meta_data": {"labeler": labeler}} for n, edges in per.items()]
        (root / "annotations" / f"{labeler}.json").write_text(json.dumps(records), encoding="utf-8")
    numbering = {str(k): [text, ["Human1", "mistral"], n, "Human1"] for k, (n, text) in enumerate(SENTENCES.items())}
    (root / "judgements" / "judge1.json").write_text(json.dumps(numbering), encoding="utf-8")
    return root


def choose(judge: str, lab_a: str, lab_b: str) -> str:
    """The simulated judges' taste: people over the model, Human1 over Human2; judge_a cannot tell
    Human2 from the others (so the judges disagree somewhere, as real ones do)."""
    if judge == "judge_a" and "Human2" in (lab_a, lab_b):
        return "tie"
    rank = {"Human1": 0, "Human2": 1, "mistral": 2}
    return "A" if rank[lab_a] < rank[lab_b] else "B"


@pytest.fixture(scope="module")
def judged_study(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("loop")
    source = write_match_data(tmp_path / "match")
    url = f"sqlite:///{tmp_path / 'loop.sqlite'}"
    assert main(["study", "--db", url, "create", str(source), "--name", "loop", "--per-judge", "10",
                 "--repeats", "1", "--common", "2"]) == 0
    app = create_app(url, admin_token=ADMIN)
    client = TestClient(app)
    links = client.post("/admin/studies/1/judges", data={"names": "judge_b\njudge_a"},
                        headers={**BEARER, "Accept": "application/json"}).json()
    given: list[tuple[str, int, str, str, str, str]] = []  # judge, sentence number, labeler a, b, verdict, kind
    for name, link in links.items():
        token = link.rsplit("/", 1)[1]
        nxt = client.get(f"/j/{token}/next").json()
        while nxt["assignment"] is not None:
            with app.state.sessions() as session:
                assignment = session.get(Assignment, nxt["assignment"])
                lab_a, lab_b, kind = assignment.item_a.labeler, assignment.item_b.labeler, assignment.kind
                number = next(n for n, t in SENTENCES.items() if t == assignment.item_a.sentence.text)
            verdict = choose(name, lab_a, lab_b)
            r = client.post(f"/j/{token}/verdict", headers={"Accept": "application/json"},
                            data={"assignment": nxt["assignment"], "verdict": verdict, "csrf": nxt["csrf"],
                                  "comment": "=HYPERLINK(\"http://x\")" if kind == "repeat" else ""})
            assert r.status_code == 200, r.text
            given.append((name, number, lab_a, lab_b, verdict, kind))
            nxt = r.json()["next"]
    app.state.engine.dispose()
    return source, url, given, tmp_path


def write_equivalent(root: Path, source: Path, given) -> Path:
    """The MATCH folder a researcher would have written by hand for the same verdicts."""
    (root / "annotations").mkdir(parents=True)
    for path in (source / "annotations").iterdir():
        (root / "annotations" / path.name).write_bytes(path.read_bytes())
    for sub, kinds in (("judgements", {"new", "common", "repeat"}), ("reliability", {"common"})):
        (root / sub).mkdir()
        for judge in sorted({g[0] for g in given}):
            mine = [g for g in given if g[0] == judge and g[5] in kinds]
            winner = {"A": 0, "B": 1}
            records = {str(k): [SENTENCES[n], [a, b], n, [a, b][winner[v]] if v in winner else "Tie"]
                       for k, (_, n, a, b, v, _) in enumerate(mine)}
            (root / sub / f"{judge}.json").write_text(json.dumps(records), encoding="utf-8")
    return root


def _align(capsys, *args: str) -> dict:
    """align's JSON without where the study was read from (a folder's path and hash; none for a database)."""
    assert main(["align", *args, "--measure", "f1_exact", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("data", "sha256"):
        out.get("frozen", {}).get("fitted_on", {}).pop(key, None)
    return out


def test_align_reads_the_study_from_the_database_as_from_its_match_folder(judged_study, capsys):
    source, url, given, tmp = judged_study
    assert len(given) == 2 * 10 and {g[5] for g in given} == {"new", "common", "repeat"}
    equivalent = write_equivalent(tmp / "by-hand", source, given)
    from_db = _align(capsys, "--study", "1", "--db", url)
    assert from_db == _align(capsys, "--data", str(equivalent))
    assert from_db["measures"]["f1_exact"]["verdicts"] == sum(g[4] != "tie" for g in given)  # non-tie ones
    # the export folder reads back the same, and names the sentences by their MATCH numbers
    assert main(["study", "--db", url, "export", "1", str(tmp / "exported")]) == 0
    capsys.readouterr()
    assert _align(capsys, "--data", str(tmp / "exported")) == from_db
    data = read_match_study(tmp / "exported")
    assert sorted(data.sentences, key=int) == ["2", "5", "11"] and len(data.reliability) == 4
    # and the HTML report takes the database too
    out = tmp / "report.html"
    assert main(["judge", "report", "--study", "1", "--db", url, "--out", str(out), "--measure", "f1_exact"]) == 0
    assert "study 1 of" in out.read_text() and out.with_name("report.config.yaml").is_file()


def test_export_formats_follow_the_extension(judged_study, capsys):
    _, url, given, tmp = judged_study
    assert main(["study", "--db", url, "export", "1", str(tmp / "v.jsonl")]) == 0
    comparisons = read_comparisons(tmp / "v.jsonl")
    assert {c.a.split("/")[0] for c in comparisons} == {"2", "5", "11"}  # source ids, not positions 0-2
    assert main(["study", "--db", url, "export", "1", str(tmp / "v.csv")]) == 0
    rows = list(csv.DictReader((tmp / "v.csv").open(encoding="utf-8")))
    assert len(rows) == len(given) == len(comparisons)
    assert [r["verdict"] for r in rows] == [c.verdict for c in comparisons]
    assert {r["comment"] for r in rows} == {"", "'=HYPERLINK(\"http://x\")"}  # no formula runs when it is opened
    capsys.readouterr()
    for bad in ("v.json", "v.txt"):
        assert main(["study", "--db", url, "export", "1", str(tmp / bad)]) == 1
        assert "cannot export to" in capsys.readouterr().err and not (tmp / bad).exists()
    (tmp / "busy").mkdir()
    (tmp / "busy" / "notes.txt").write_text("mine")
    assert main(["study", "--db", url, "export", "1", str(tmp / "busy")]) == 1
    assert (tmp / "busy" / "notes.txt").read_text() == "mine"


def test_study_keeps_source_ids_and_notes_what_was_skipped(judged_study, capsys):
    source, url, _, _ = judged_study
    assert main(["study", "--db", url, "create", str(source), "--name", "again"]) == 0
    assert "note: skipped:" in capsys.readouterr().err  # Human2's direction "tokens." is reported
    app = create_app(url, admin_token=ADMIN)
    client = TestClient(app)
    page = client.get("/admin/studies/1", headers=BEARER).text
    assert "tokens." in page  # the note on what the reader skipped stays on the study page
    results = client.get("/admin/studies/1/results", headers=BEARER).text
    assert "<strong>11.</strong>" in results and "<strong>0.</strong>" not in results
    assert "=HYPERLINK" in results  # judges' comments are listed
    assert 'id="judge-agreement"' in results and 'id="win-rates"' in results
    download = client.get("/admin/studies/1/export.csv", headers=BEARER)
    assert download.status_code == 200 and "'=HYPERLINK" in download.text
    folder_zip = client.get("/admin/studies/1/export.zip", headers=BEARER)
    assert folder_zip.status_code == 200 and folder_zip.content[:2] == b"PK"
    app.state.engine.dispose()
    assert main(["align", "--study", "9", "--db", url]) == 1
    assert "no study 9" in capsys.readouterr().err
    assert main(["align", "--study", "1", "--data", "x", "--db", url]) == 1
    assert "either --data" in capsys.readouterr().err
