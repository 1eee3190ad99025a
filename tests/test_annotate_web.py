"""The annotation web pages over HTTP (FastAPI TestClient): the admin flow from upload to export,
per-annotator access, CSRF, escaping, stale saves (409) and durability across a restart; on SQLite
and on PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

import pg
from fcmatch.data.formats import read_maps
from fcmatch.web.app import create_app

any_db_url = pg.any_db_url  # the fixture: each test that takes it runs on SQLite and on PostgreSQL

ADMIN = "annotate-admin-token"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
SENTENCES = [
    "Rain increases crop yield.",
    "Heat stress lowers crop yield.",
    "Higher taxes reduce demand.",
    'A <script>alert("x")</script> & "quoted" sentence.',
]


@pytest.fixture
def db_url(any_db_url):
    return any_db_url


@pytest.fixture
def client(db_url):
    app = create_app(db_url, admin_token=ADMIN)
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()


def make_project(client, overlap="1.0", names="ann\nbob"):
    """Create a project over HTTP, invite, assign; return (project page URL, {name: link path})."""
    csv_text = "id,text\n" + "".join(f'{i},"{s.replace(chr(34), chr(34) * 2)}"\n' for i, s in enumerate(SENTENCES))
    r = client.post(
        "/admin/annotate/projects",
        headers=BEARER,
        data={"name": "pilot", "overlap": overlap, "redundancy": "2"},
        files={"sentences": ("s.csv", csv_text.encode())},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    r = client.post(f"{url}/invite", headers=BEARER, data={"names": names})
    links = dict(
        re.findall(r"<td>(\w+)</td><td><code class=\"link\">http://testserver(/annotate/a/[\w-]+)</code>", r.text)
    )
    assert sorted(links) == sorted(names.split())
    assert client.post(f"{url}/assign", headers=BEARER).status_code == 200
    return url, links


def editor_data(client, link, index=0):
    """The editor's embedded JSON for the annotator's ``index``-th task."""
    home = client.get(link)
    assert home.status_code == 200 and home.headers["cache-control"] == "no-store"
    listing = home.text.split('<ol class="tasks">', 1)[1]  # the task list, in the person's order
    task_ids = re.findall(rf"{re.escape(link)}/t/(\d+)", listing)
    page = client.get(f"{link}/t/{task_ids[index]}")
    assert page.status_code == 200
    raw = re.search(r'<script type="application/json" id="task-data">(.*?)</script>', page.text, re.S).group(1)
    return json.loads(raw), page.text


def put(client, data, doc, version=None, csrf=None):
    return client.put(
        data["save_url"],
        json={"version": data["version"] if version is None else version, "doc": doc},
        headers={"X-CSRF-Token": data["csrf"] if csrf is None else csrf},
    )


def test_admin_side_needs_the_admin(client):
    assert client.get("/admin/annotate").status_code == 401
    assert client.post("/admin/annotate/projects", data={"name": "x"}).status_code == 401
    # logged in with the cookie, a form without its CSRF token is refused
    login = client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
    client.post("/admin/login", data={"token": ADMIN, "csrf": csrf}, follow_redirects=False)
    page = client.get("/admin/annotate")
    assert page.status_code == 200
    r = client.post("/admin/annotate/projects", data={"name": "x"}, files={"sentences": ("s.txt", b"A.\n")})
    assert r.status_code == 403
    form_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/admin/annotate/projects",
        data={"name": "x", "csrf": form_csrf},
        files={"sentences": ("s.txt", b"A causes B.\n")},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_upload_errors_are_reported(client):
    r = client.post(
        "/admin/annotate/projects",
        headers=BEARER,
        data={"name": "bad"},
        files={"sentences": ("s.csv", b"id,body\n1,hello\n")},
    )
    assert r.status_code == 400 and "no text column" in r.text and "s.csv" in r.text


def test_annotators_see_only_their_own_work(client):
    _, links = make_project(client, overlap="0.0")
    data_ann, _ = editor_data(client, links["ann"])
    data_bob, _ = editor_data(client, links["bob"])
    other_task = data_bob["save_url"].rsplit("/", 1)[1]
    assert client.get(f"{links['ann']}/t/{other_task}").status_code == 404
    stolen = dict(data_ann, save_url=f"{links['ann']}/t/{other_task}")
    assert put(client, stolen, {"edges": []}).status_code == 404
    assert client.get("/annotate/a/not-a-real-token").status_code == 404
    # CSRF: missing, or another annotator's token
    assert put(client, data_ann, {"edges": []}, csrf="").status_code == 403
    assert put(client, data_ann, {"edges": []}, csrf=data_bob["csrf"]).status_code == 403
    assert put(client, data_ann, {"edges": [{"cause": "a", "effect": "b", "sign": "maybe"}]}).status_code == 422


def test_sentence_text_is_escaped(client):
    _, links = make_project(client, overlap="0.0", names="ann")
    home = client.get(links["ann"]).text
    assert "&lt;script&gt;" in home and '<script>alert("x")' not in home
    task = re.findall(rf"{re.escape(links['ann'])}/t/(\d+)", home)[-1]
    page = client.get(f"{links['ann']}/t/{task}").text
    assert '<script>alert("x")' not in page and "&lt;script&gt;" in page


def test_stale_save_is_409_and_work_survives_a_restart(db_url, client):
    _, links = make_project(client, overlap="0.0", names="ann")
    data, _ = editor_data(client, links["ann"])
    doc = {"edges": [{"cause": "rain", "effect": "crop yield", "sign": "+", "confidence": "high"}]}
    r = put(client, data, doc)
    assert r.status_code == 200 and r.json()["version"] == 1
    # a second tab still on version 0
    r = put(client, data, {"edges": []}, version=0)
    assert r.status_code == 409
    assert r.json()["current"]["doc"]["edges"][0]["cause"] == "rain" and r.json()["current"]["version"] == 1
    client.app.state.engine.dispose()

    restarted = create_app(db_url, admin_token=ADMIN)
    with TestClient(restarted) as again:
        data2, _ = editor_data(again, links["ann"])
        assert data2["version"] == 1
        assert data2["doc"]["edges"] == [
            {"cause": "rain", "effect": "crop yield", "sign": "+", "confidence": "high", "origin": None}
        ]
    restarted.state.engine.dispose()


def test_full_flow_suggestions_agreement_exports(client, tmp_path):
    url, links = make_project(client, overlap="1.0")
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        json.dumps(
            {
                "text": SENTENCES[0],
                "edges": [{"cause": "rain", "effect": "crop yield", "sign": "+"}],
                "meta": {"model": "tiny"},
            }
        )
        + "\n"
        + json.dumps({"text": "Not in the project.", "edges": [], "meta": {"model": "tiny"}})
        + "\n"
    )
    r = client.post(f"{url}/suggestions", headers=BEARER, files={"predictions": ("preds.jsonl", preds.read_bytes())})
    assert "tiny: 1" in r.text and "1 not in the project" in r.text

    answers = {
        "ann": [{"cause": "rain", "effect": "crop yield", "sign": "+", "origin": 0}],
        "bob": [{"cause": "rain", "effect": "crop yield", "sign": "-", "origin": 0}],
    }
    for name, link in links.items():
        data, _ = editor_data(client, link)
        assert data["text"] == SENTENCES[0] and data["suggestions"][0]["cause"] == "rain"
        assert put(client, data, {"edges": answers[name], "status": "done"}).status_code == 200
        data, _ = editor_data(client, link, index=1)
        assert put(client, data, {"edges": [], "flag": "no_claim", "status": "done"}).status_code == 200

    page = client.get(url, headers=BEARER).text
    assert "2 sentences done by several people" in page
    assert "Where people disagree most" in page and "sign agreement on 1 matched edges" in page
    rates = re.search(r'id="suggestion-rates".*?</table>', page, re.S).group(0)
    assert "1 (50%)" in rates  # one accepted, one edited of two decided

    exports = {}
    for fmt, suffix, extra in [("jsonl", ".jsonl", ""), ("csv", ".csv", ""), ("match", ".json", "&per_sentence=all")]:
        r = client.get(f"{url}/export?fmt={fmt}{extra}", headers=BEARER)
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        path = tmp_path / f"export{suffix}"
        path.write_bytes(r.content)
        exports[fmt] = read_maps(path)
    assert [m.text for m in exports["jsonl"]] == SENTENCES[:2]
    assert [e.to_dict() for e in exports["jsonl"][0].edges] == [{"cause": "rain", "effect": "crop yield", "sign": "+"}]
    assert exports["jsonl"][1].edges == [] and exports["jsonl"][1].meta["flag"] == "no_claim"
    assert [m.text for m in exports["csv"]] == SENTENCES[:2]
    assert sorted((m.source, m.edges[0].sign if m.edges else 0) for m in exports["match"]) == [
        ("ann", 0),
        ("ann", 1),
        ("bob", -1),
        ("bob", 0),
    ]


def test_reissued_link_replaces_the_old_one_and_ordering_applies(client, tmp_path):
    url, links = make_project(client, overlap="0.0", names="ann")
    r = client.post(f"{url}/reissue", headers=BEARER, data={"name": "ann"})
    new_link = re.search(r"http://testserver(/annotate/a/[\w-]+)", r.text).group(1)
    assert client.get(links["ann"]).status_code == 404 and client.get(new_link).status_code == 200

    # the model is least sure about the third sentence: it comes first
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"text": s, "edges": [], "meta": {"model": "m", "mean_logprob": -3.0 if i == 2 else -0.1}})
            + "\n"
            for i, s in enumerate(SENTENCES)
        )
    )
    client.post(f"{url}/suggestions", headers=BEARER, files={"predictions": ("p.jsonl", preds.read_bytes())})
    r = client.post(f"{url}/ordering", headers=BEARER, data={"by": "uncertainty"})
    assert r.status_code == 200 and "4 sentences scored" in r.text
    data, _ = editor_data(client, new_link)
    assert data["text"] == SENTENCES[2]
    r = client.post(f"{url}/ordering", headers=BEARER, data={"by": "disagreement"})
    assert r.status_code == 400 and "two models" in r.text
