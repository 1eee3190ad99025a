"""``fcmatch fcm build|review|scenario|export|evaluate`` end to end on small files (a fake embedder stands in
for MiniLM), and the review pages through FastAPI's test client: alone and inside the main app."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from fcmatch.cli import main
from fcmatch.data.formats import write_jsonl
from fcmatch.fcm.corpus import load_corpus
from fcmatch.fcm.merge import read_merge_table
from test_fcm_build import MAPS, fake_embed


@pytest.fixture
def maps(tmp_path, monkeypatch):
    monkeypatch.setattr("fcmatch.evaluate.encoder.embed", lambda texts, folder=None: fake_embed(texts))
    path = tmp_path / "gold.jsonl"
    write_jsonl([m for _, m in MAPS], path)
    return path


@pytest.fixture
def built(maps, tmp_path):
    out = tmp_path / "corpus.json"
    assert main(["fcm", "build", f"gold={maps}", "--output", str(out), "--threshold", "0.9"]) == 0
    return out


def test_build_and_review(built, tmp_path):
    corpus = load_corpus(built)
    assert (len(corpus.concepts), len(corpus.edges)) == (3, 2)
    assert (tmp_path / "corpus.config.yaml").is_file()
    table = tmp_path / "merges.csv"
    assert main(["fcm", "review", str(built), "--table", str(table)]) == 0
    assert {cid for cid, _ in read_merge_table(table).values()} == set(corpus.concepts)


def test_build_errors_name_the_problem(maps, tmp_path, capsys):
    assert main(["fcm", "build", str(tmp_path / "none.jsonl")]) == 1
    assert "none.jsonl: no such file" in capsys.readouterr().err
    assert main(["fcm", "build", str(maps), "--threshold", "2"]) == 1
    assert "--threshold must be in [0, 1]" in capsys.readouterr().err


def test_scenario(built, tmp_path, capsys):
    out = tmp_path / "s" / "drought.json"
    assert main(["fcm", "scenario", str(built), "--clamp", "drought=1", "--output", str(out),
                 "--transfer", "sigmoid", "--rule", "kosko"]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["clamp"] == {"drought": 1.0} and result["baseline"]["outcome"] == "fixed_point"
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert (out.parent / "drought.config.yaml").is_file()
    printed = capsys.readouterr().out
    assert "drought" in printed and '"clamp"' in printed
    assert main(["fcm", "scenario", str(built), "--clamp", "flood=1", "--output", str(out)]) == 1
    assert "'flood': no concept" in capsys.readouterr().err
    assert main(["fcm", "scenario", str(built), "--clamp", "drought", "--output", str(out)]) == 1
    assert "write CONCEPT=VALUE" in capsys.readouterr().err


def test_export(built, tmp_path):
    out = tmp_path / "x"
    assert main(["fcm", "export", str(built), "--out-dir", str(out), "--format", "graphml", "--format", "csv"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "corpus.edges.csv", "corpus.graphml"]


def test_evaluate_identical_maps_score_one(maps, tmp_path):
    out = tmp_path / "eval"
    assert main(["fcm", "evaluate", "--gold", str(maps), "--pred", str(maps), "--out-dir", str(out),
                 "--threshold", "0.9"]) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["concepts"]["f1"] == metrics["edges"]["f1"] == metrics["edges_with_sign"]["f1"] == 1.0
    assert {p.name for p in out.iterdir()} >= {"gold.json", "pred.json", "compare.png", "config.yaml"}


def test_review_page_alone(built):
    from fcmatch.web.fcm import create_fcm_app

    client = TestClient(create_fcm_app(built))
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/fcm/corpus"
    page = client.get("/fcm/corpus?min_weight=0.3")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/fcm/assets/fcm.js">' in page.text and 'value="0.3"' in page.text
    assert "Drought lowers crop yield." in page.text  # the evidence is in the page's data
    assert client.get("/fcm/assets/fcm.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/fcm/corpus/corpus.json").json()["format"] == "fcmatch-corpus-map"
    merges = client.get("/fcm/corpus/merges.csv")
    assert merges.text.startswith("cluster_id,canonical_name,surface_forms,count")
    assert client.get("/fcm/other").status_code == 404
    assert client.get("/fcm/..%2Fcorpus").status_code == 404


def test_review_pages_in_main_app_need_admin(built, tmp_path, monkeypatch):
    from fcmatch.web.app import create_app

    monkeypatch.setenv("FCMATCH_CORPUS_MAPS", str(built))
    admin = "test-admin-token-fcm"
    client = TestClient(create_app(f"sqlite:///{tmp_path / 'db.sqlite'}", admin_token=admin))
    assert client.get("/admin/fcm/corpus").status_code == 401
    bearer = {"Authorization": f"Bearer {admin}"}
    listing = client.get("/admin/fcm", headers=bearer)
    assert listing.status_code == 200 and 'href="/admin/fcm/corpus"' in listing.text
    page = client.get("/admin/fcm/corpus", headers=bearer)
    assert page.status_code == 200 and '<script src="/admin/fcm/assets/fcm.js">' in page.text
    assert client.get("/admin/fcm/assets/fcm.css", headers=bearer).status_code == 200
    client.app.state.engine.dispose()
