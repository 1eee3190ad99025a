"""``fcmatch annotate`` end to end: create from a text file, invite, assign, import two models'
predictions, order by disagreement, annotate through the library, then agreement and the three exports."""

from __future__ import annotations

import json

from fcmatch.annotate.project import get_project
from fcmatch.annotate.tasks import ordered_tasks, save_task
from fcmatch.cli import main
from fcmatch.data.formats import read_claims_csv, read_jsonl, read_match_json
from fcmatch.store.engine import make_engine, session_factory
from fcmatch.store.schema import init_db

SENTENCES = ["Rain increases yield.", "Heat lowers yield.", "Taxes cut demand.", "Prices rise."]


def test_annotate_cli_end_to_end(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    (tmp_path / "s.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    run = lambda *argv: main(["annotate", "--db", db, *argv])  # noqa: E731

    assert run("create", str(tmp_path / "s.txt"), "--name", "pilot", "--overlap", "0.5") == 0
    assert run("create", str(tmp_path / "s.txt"), "--name", "pilot") == 1  # name taken
    assert "exists already" in capsys.readouterr().err
    assert run("invite", "pilot", "ann", "bob", "--base-url", "http://x") == 0
    links = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert set(links) == {"ann", "bob"} and all(v.startswith("http://x/annotate/a/") for v in links.values())
    assert run("assign", "pilot") == 0
    assert sum(int(line.split("+")[1].split()[0]) for line in capsys.readouterr().out.splitlines()) == 6

    for model, sign in (("m1", "+"), ("m2", "-")):
        preds = tmp_path / f"{model}.jsonl"
        preds.write_text(
            "".join(
                json.dumps(
                    {
                        "text": s,
                        "edges": [{"cause": "a", "effect": "b", "sign": sign if i == 0 else "+"}],
                        "meta": {"model": model},
                    }
                )
                + "\n"
                for i, s in enumerate(SENTENCES)
            )
        )
        assert run("import-suggestions", "pilot", str(preds)) == 0
        assert json.loads(capsys.readouterr().out) == {"models": {model: 4}, "unmatched": 0}
    assert run("order", "pilot", "--by", "disagreement") == 0
    assert "4 sentences scored" in capsys.readouterr().out

    engine = make_engine(db)
    init_db(engine)
    with session_factory(engine).begin() as session:
        project = get_project(session, "pilot")
        for annotator in sorted(project.annotators, key=lambda a: a.name):
            tasks = ordered_tasks(session, annotator)
            # the models disagree only on the first sentence: it comes first for whoever has it
            if any(t.sentence.text == SENTENCES[0] for t in tasks):
                assert tasks[0].sentence.text == SENTENCES[0]
            for task in tasks:
                sign = "-" if annotator.name == "bob" and task.sentence.position == 1 else "+"
                doc = {"edges": [{"cause": "x", "effect": "y", "sign": sign}], "status": "done"}
                save_task(session, task, doc, task.version)
    engine.dispose()

    assert run("agreement", "pilot", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sentences"] == 2 and report["matched_edges"] == 2
    assert run("status", "pilot") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["progress"]["finished_sentences"] == 4

    for name in ("out.jsonl", "out.csv", "out.json"):
        assert run("export", "pilot", str(tmp_path / name)) == 0
    assert [m.text for m in read_jsonl(tmp_path / "out.jsonl")] == SENTENCES
    assert [m.text for m in read_claims_csv(tmp_path / "out.csv")] == SENTENCES
    assert len(read_match_json(tmp_path / "out.json")) == 6  # every annotator's map for a judging study
    assert run("agreement", "nope") == 1 and "no project named 'nope'" in capsys.readouterr().err
