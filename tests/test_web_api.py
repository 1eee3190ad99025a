"""The judging web app through FastAPI's test client: judge flow, idempotency, security, restart; each
test that uses ``setup`` runs on SQLite and on PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import pg
from fcmatch.store.study_tables import Verdict
from fcmatch.study.demo import write_demo_files
from fcmatch.web.app import create_app

any_db_url = pg.any_db_url  # the fixture: each test that takes it runs on SQLite and on PostgreSQL

ADMIN = "test-admin-token"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _make_study(client: TestClient, files: list[Path], **form: str) -> int:
    uploads = [("files", (p.name, p.read_bytes(), "application/json")) for p in files]
    data = {"name": "demo", "per_judge": "6", "hide_labelers": "1", **form}
    r = client.post("/admin/studies", files=uploads, data=data, headers=BEARER, follow_redirects=False)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def _invite(client: TestClient, study: int, *names: str) -> dict[str, str]:
    r = client.post(f"/admin/studies/{study}/judges", data={"names": "\n".join(names)},
                    headers={**BEARER, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    return {name: link.rsplit("/", 1)[1] for name, link in r.json().items()}


def _next(client: TestClient, token: str) -> dict:
    r = client.get(f"/j/{token}/next")
    assert r.status_code == 200
    return r.json()


def _post(client: TestClient, token: str, assignment: int, verdict: str, csrf: str, **extra: str):
    return client.post(f"/j/{token}/verdict", data={"assignment": assignment, "verdict": verdict, "csrf": csrf, **extra},
                       headers={"Accept": "application/json"})


@pytest.fixture
def setup(tmp_path: Path, any_db_url: str):
    files = write_demo_files(tmp_path / "maps", n_sentences=4)
    url = any_db_url
    app = create_app(url, admin_token=ADMIN)
    client = TestClient(app)
    study = _make_study(client, files)
    tokens = _invite(client, study, "alice", "bob")
    yield client, study, tokens, url
    app.state.engine.dispose()


def _count_verdicts(client: TestClient) -> int:
    with client.app.state.sessions() as session:
        return session.scalar(select(func.count(Verdict.id)))


def test_judge_page_shows_pair_and_progress(setup):
    client, _, tokens, _ = setup
    r = client.get(f"/j/{tokens['alice']}")
    assert r.status_code == 200
    assert "1 of 6" in r.text and 'id="btn-a"' in r.text and "<svg" in r.text
    assert "careful" not in r.text and "flipped" not in r.text  # labeler names hidden
    assert r.headers["cache-control"] == "no-store" and "default-src 'self'" in r.headers["content-security-policy"]


def test_full_judge_run_and_export(setup):
    client, study, tokens, _ = setup
    seen = set()
    for k in range(6):
        nxt = _next(client, tokens["alice"])
        assert nxt["done"] == k and nxt["total"] == 6
        seen.add(nxt["assignment"])
        assert _post(client, tokens["alice"], nxt["assignment"], ["A", "B", "tie"][k % 3], nxt["csrf"]).status_code == 200
    assert _next(client, tokens["alice"])["assignment"] is None
    assert "All done" in client.get(f"/j/{tokens['alice']}").text
    lines = client.get(f"/admin/studies/{study}/export.jsonl", headers=BEARER).text.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 6 and {r["judge"] for r in records} == {"alice"}
    assert [r["verdict"] for r in records] == ["A", "B", "tie"] * 2
    assert all(re.fullmatch(r"\d+/(careful|terse|flipped)", r["a"]) for r in records)
    results = client.get(f"/admin/studies/{study}/results", headers=BEARER)
    assert results.status_code == 200 and "6 verdicts" in results.text and 'class="bt"' in results.text


def test_same_verdict_twice_is_stored_once(setup):
    client, _, tokens, _ = setup
    nxt = _next(client, tokens["alice"])
    first = _post(client, tokens["alice"], nxt["assignment"], "A", nxt["csrf"])
    again = _post(client, tokens["alice"], nxt["assignment"], "A", nxt["csrf"])
    assert first.status_code == again.status_code == 200 and first.json()["id"] == again.json()["id"]
    assert _post(client, tokens["alice"], nxt["assignment"], "B", nxt["csrf"]).status_code == 409
    assert _count_verdicts(client) == 1


def test_verdict_for_another_judges_pair_is_rejected(setup):
    client, _, tokens, _ = setup
    alice = _next(client, tokens["alice"])
    bob = _next(client, tokens["bob"])
    assert _post(client, tokens["bob"], alice["assignment"], "A", bob["csrf"]).status_code == 403
    assert _post(client, tokens["bob"], 99999, "A", bob["csrf"]).status_code == 403
    assert _count_verdicts(client) == 0


def test_csrf_is_required_on_every_post(setup):
    client, study, tokens, _ = setup
    alice = _next(client, tokens["alice"])
    bob = _next(client, tokens["bob"])
    assert _post(client, tokens["alice"], alice["assignment"], "A", "").status_code == 403
    assert _post(client, tokens["alice"], alice["assignment"], "A", bob["csrf"]).status_code == 403  # bob's token
    # an admin logged in by cookie still needs the form's CSRF token
    page = client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert client.post("/admin/login", data={"token": ADMIN, "csrf": "wrong"}).status_code == 403
    assert client.post("/admin/login", data={"token": ADMIN, "csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/admin").status_code == 200
    r = client.post(f"/admin/studies/{study}/judges", data={"names": "mallory"})
    assert r.status_code == 403
    admin_csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin").text).group(1)
    r = client.post(f"/admin/studies/{study}/judges", data={"names": "carol", "csrf": admin_csrf})
    assert r.status_code == 200 and "/j/" in r.text
    assert _count_verdicts(client) == 0


def test_judge_link_cannot_reach_admin_or_results(setup):
    client, study, tokens, _ = setup
    for path in ("/admin", f"/admin/studies/{study}", f"/admin/studies/{study}/results",
                 f"/admin/studies/{study}/export.jsonl"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": f"Bearer {tokens['alice']}"}).status_code == 401
        r = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    assert client.get("/j/not-a-token").status_code == 404
    assert client.get(f"/j/{tokens['alice']}/../../admin").status_code in (401, 404)


def test_user_text_is_escaped(tmp_path: Path):
    maps = tmp_path / "maps"
    maps.mkdir()
    for labeler, sign in (("evil", "+"), ("other", "-")):
        record = {"text": f"Sentence with {XSS} inside.", "edges": [{"cause": XSS, "effect": "harm", "sign": sign}]}
        (maps / f"{labeler}.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    app = create_app(f"sqlite:///{tmp_path / 'x.sqlite'}", admin_token=ADMIN)
    client = TestClient(app)
    study = _make_study(client, sorted(maps.iterdir()), hide_labelers="", name=XSS)
    token = _invite(client, study, XSS)[XSS]
    page = client.get(f"/j/{token}").text
    nxt = _next(client, token)
    _post(client, token, nxt["assignment"], "A", nxt["csrf"], comment=XSS)
    admin_pages = [client.get(p, headers=BEARER).text for p in ("/admin", f"/admin/studies/{study}", f"/admin/studies/{study}/results")]
    for text in [page, *admin_pages]:
        assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    app.state.engine.dispose()


def test_request_size_limit(setup):
    client, _, tokens, _ = setup
    nxt = _next(client, tokens["alice"])
    r = _post(client, tokens["alice"], nxt["assignment"], "A", nxt["csrf"], comment="x" * 300_000)
    assert r.status_code == 413
    assert _count_verdicts(client) == 0


def test_restart_loses_nothing(setup):
    client, study, tokens, url = setup
    for k in range(3):
        nxt = _next(client, tokens["bob"])
        _post(client, tokens["bob"], nxt["assignment"], "B", nxt["csrf"], comment=f"note {k}")
    page_csrf = _next(client, tokens["bob"])
    client.app.state.engine.dispose()
    restarted = TestClient(create_app(url, admin_token=ADMIN))
    records = [json.loads(x) for x in restarted.get(f"/admin/studies/{study}/export.jsonl", headers=BEARER).text.splitlines()]
    assert [r["comment"] for r in records] == ["note 0", "note 1", "note 2"]
    # the same pair is still waiting, and a form rendered before the restart still posts
    assert _next(restarted, tokens["bob"])["assignment"] == page_csrf["assignment"]
    assert _post(restarted, tokens["bob"], page_csrf["assignment"], "tie", page_csrf["csrf"]).status_code == 200
    restarted.app.state.engine.dispose()


def test_browser_form_post_redirects(setup):
    client, _, tokens, _ = setup
    page = client.get(f"/j/{tokens['alice']}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assignment = re.search(r'name="assignment" value="(\d+)"', page).group(1)
    r = client.post(f"/j/{tokens['alice']}/verdict", data={"assignment": assignment, "verdict": "tie", "csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/j/{tokens['alice']}"
    assert "2 of 6" in client.get(r.headers["location"]).text
