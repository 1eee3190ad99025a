"""Edge cases and attacks on the web app and the commands behind it: huge ids and deep JSON, stale
tabs and undo, the figures of the results page, error messages that name the file, admin sessions,
login throttling, secret links in logs, revocable links, CSV formulas and messages in the URL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from fcmatch.cli import main
from fcmatch.store.csv_cells import safe_cell
from fcmatch.store.schema import AdminSession
from fcmatch.study.demo import write_demo_files
from fcmatch.study.results import _fmt, distinct_splits
from fcmatch.web.app import create_app
from fcmatch.web.security import ADMIN_COOKIE, redact_path
from loadtest import _free_port

ADMIN = "hardening-admin-token"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
JSON = {"Accept": "application/json"}
HUGE = 2**70


@pytest.fixture
def app_url(tmp_path: Path):
    return f"sqlite:///{tmp_path / 'h.sqlite'}"


@pytest.fixture
def client(app_url: str, tmp_path: Path):
    app = create_app(app_url, admin_token=ADMIN)
    with TestClient(app) as c:
        files = write_demo_files(tmp_path / "maps", n_sentences=3)
        uploads = [("files", (p.name, p.read_bytes(), "application/json")) for p in files]
        r = c.post("/admin/studies", files=uploads, data={"name": "h", "per_judge": "6"}, headers=BEARER,
                   follow_redirects=False)
        assert r.status_code == 303
        yield c
    app.state.engine.dispose()


def _invite(client: TestClient, *names: str) -> dict[str, str]:
    r = client.post("/admin/studies/1/judges", data={"names": "\n".join(names)}, headers={**BEARER, **JSON})
    return {n: link.rsplit("/", 1)[1] for n, link in r.json().items()}


def _login(client: TestClient, token: str = ADMIN):
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/login").text).group(1)
    return client.post("/admin/login", data={"token": token, "csrf": csrf}, follow_redirects=False)


def test_admin_pages_show_the_number_of_maps(client):
    listing = client.get("/admin", headers=BEARER).text
    study = client.get("/admin/studies/1", headers=BEARER).text
    assert "built-in method" not in listing + study
    assert '<td class="num">9</td>' in listing and "9 maps" in study  # 3 sentences x 3 labelers


def test_huge_ids_and_deep_json_are_client_errors(client):
    token = _invite(client, "ann")["ann"]
    for path in (f"/admin/studies/{HUGE}", f"/admin/studies/{HUGE}/results", f"/admin/annotate/{HUGE}",
                 f"/annotate/a/{token}/t/{HUGE}", "/admin/studies/-1", f"/admin/studies/{2**63 - 1}"):
        assert client.get(path, headers=BEARER).status_code in (404, 422), path
    nxt = client.get(f"/j/{token}/next").json()
    r = client.post(f"/j/{token}/verdict", data={"assignment": HUGE, "verdict": "A", "csrf": nxt["csrf"]}, headers=JSON)
    assert r.status_code == 422
    r = client.put(f"/annotate/a/{token}/t/1", content="[" * 100_000 + "]" * 100_000,
                   headers={"X-CSRF-Token": "x", "Content-Type": "application/json"})
    assert r.status_code in (403, 404, 422)  # never a 500


def test_deep_json_and_huge_version_on_a_real_task(tmp_path: Path):
    from test_annotate_web import editor_data, make_project, put

    app = create_app(f"sqlite:///{tmp_path / 'a.sqlite'}", admin_token="annotate-admin-token")
    with TestClient(app) as c:
        _, links = make_project(c)
        data, _ = editor_data(c, links["ann"])
        deep = c.put(data["save_url"], content=b"[" * 100_000 + b"]" * 100_000,
                     headers={"X-CSRF-Token": data["csrf"], "Content-Type": "application/json"})
        assert deep.status_code == 422
        assert put(c, data, {"edges": []}, version=HUGE).status_code == 422
        assert put(c, data, {"edges": [], "rejected": [HUGE]}).status_code == 422
        assert put(c, data, {"edges": [{"cause": "heat", "effect": ""}], "status": "done"}).status_code == 422
        kept = put(c, data, {"edges": [{"cause": "heat", "effect": ""}]})
        assert kept.status_code == 200 and kept.json()["status"] == "draft"
    app.state.engine.dispose()


def test_stale_tab_gets_a_page_and_undo_reopens_the_pair(client):
    token = _invite(client, "ann")["ann"]
    nxt = client.get(f"/j/{token}/next").json()
    form = {"assignment": nxt["assignment"], "csrf": nxt["csrf"]}
    assert client.post(f"/j/{token}/verdict", data={**form, "verdict": "A"}, follow_redirects=False).status_code == 303
    stale = client.post(f"/j/{token}/verdict", data={**form, "verdict": "B"})
    assert stale.status_code == 409 and "text/html" in stale.headers["content-type"]
    assert "already judged this pair" in stale.text and "“A better”" in stale.text and 'id="undo"' in stale.text
    assert client.post(f"/j/{token}/verdict", data={**form, "verdict": "B"}, headers=JSON).status_code == 409
    undone = client.post(f"/j/{token}/undo", data={"csrf": nxt["csrf"]}, headers=JSON).json()
    assert undone["reopened"] == nxt["assignment"] and undone["next"]["assignment"] == nxt["assignment"]
    assert undone["next"]["done"] == 0
    assert client.post(f"/j/{token}/verdict", data={**form, "verdict": "B"}, headers=JSON).json()["verdict"] == "B"
    assert client.post(f"/j/{token}/undo", data={"csrf": "forged"}).status_code == 403


def test_results_figures_are_explained_not_absurd(client):
    tokens = _invite(client, "ann", "bob")
    for name, verdict in (("ann", "A"), ("bob", "B")):  # two judges who always disagree
        for _ in range(6):
            nxt = client.get(f"/j/{tokens[name]}/next").json()
            if nxt["assignment"] is None:
                break
            client.post(f"/j/{tokens[name]}/verdict", headers=JSON,
                        data={"assignment": nxt["assignment"], "verdict": verdict, "csrf": nxt["csrf"],
                              "comment": f"{name} says {verdict}"})
    page = client.get("/admin/studies/1/results", headers=BEARER).text
    assert "-0.00" not in page and "ann says A" in page and "bob says B" in page
    row = re.search(r"Split-half reliability.*?</tr>", page, re.S).group(0)
    assert "the only split of 2 judges" in row and "median of 20" not in row
    value = re.search(r'class="num">([^<]*)<', row).group(1)
    assert value == "none yet" or -1.0 <= float(value) <= 1.0
    assert _fmt(-0.001) == "0.00" and _fmt(-0.5) == "-0.50"
    assert [distinct_splits(n) for n in (2, 3, 4, 5, 6)] == [1, 3, 3, 10, 10]


def test_file_errors_name_the_file_not_the_server_path(client, tmp_path: Path, capsys):
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"text": "Caf\xe9 raises prices.", "edges": []}\n'.encode("latin-1"))
    assert main(["study", "--db", f"sqlite:///{tmp_path / 'c.sqlite'}", "create", str(latin), str(latin)]) == 1
    assert "latin.jsonl: not UTF-8 text (byte 0xe9" in capsys.readouterr().err
    upload = [("files", ("latin.jsonl", latin.read_bytes(), "application/json"))]
    r = client.post("/admin/studies", files=upload, data={"name": "x"}, headers=BEARER)
    assert "latin.jsonl: not UTF-8 text" in r.text and "/tmp" not in r.text
    r = client.post("/admin/annotate/projects", headers=BEARER, data={"name": "p"},
                    files={"sentences": ("names.txt", "Caf\xe9 au lait.\n".encode("latin-1"))})
    assert r.status_code == 400 and "names.txt: not UTF-8 text" in r.text and "/tmp" not in r.text


def test_annotate_commands_reject_empty_and_broken_input(tmp_path: Path, capsys):
    db = f"sqlite:///{tmp_path / 'a.sqlite'}"
    broken = tmp_path / "broken.csv"
    broken.write_text('text\n"An open quote that never closes.\nSecond line.\n', encoding="utf-8")
    assert main(["annotate", "--db", db, "create", str(broken), "--name", "p"]) == 1
    assert "malformed CSV" in capsys.readouterr().err
    good = tmp_path / "s.txt"
    good.write_text("Rain raises rivers.\n", encoding="utf-8")
    assert main(["annotate", "--db", db, "create", str(good), "--name", "p"]) == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert main(["annotate", "--db", db, "import-suggestions", "p", str(empty)]) == 1
    assert "no predictions" in capsys.readouterr().err
    assert main(["annotate", "--db", db, "order", "p", "--by", "disagreement"]) == 1
    err = capsys.readouterr().err
    assert "--by disagreement" in err and "--order" not in err


def test_admin_sessions_end_on_logout_and_expire(app_url: str):
    app = create_app(app_url, admin_token=ADMIN)
    with TestClient(app) as browser:
        assert _login(browser).status_code == 303
        cookie = browser.cookies[ADMIN_COOKIE]
        assert cookie != ADMIN and len(cookie) >= 32 and browser.get("/admin").status_code == 200
        with TestClient(app) as other:  # a second login gets its own session
            _login(other)
            assert other.cookies[ADMIN_COOKIE] != cookie
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/admin").text).group(1)
        assert browser.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    with TestClient(app, cookies={ADMIN_COOKIE: cookie}) as thief:  # the old cookie, copied before logout
        assert thief.get("/admin").status_code == 401
        r = thief.get("/admin", headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.headers["location"] == "/admin/login?error=expired"
    with TestClient(app) as browser:
        _login(browser)
        with app.state.sessions.begin() as session:
            session.execute(update(AdminSession).values(expires=datetime.now(timezone.utc) - timedelta(seconds=1)))
        assert browser.get("/admin").status_code == 401
    app.state.engine.dispose()
    secure = create_app(app_url, admin_token=ADMIN, secure_cookies=True)
    with TestClient(secure, base_url="https://testserver") as browser:
        set_cookie = _login(browser).headers["set-cookie"]
        assert "Secure" in set_cookie and "HttpOnly" in set_cookie and "samesite=strict" in set_cookie.lower()
    secure.state.engine.dispose()


def test_login_is_throttled_and_needs_a_strong_token(app_url: str):
    with pytest.raises(ValueError, match="16 characters"):
        create_app(app_url, admin_token="eight-ch")
    app = create_app(app_url, admin_token=ADMIN)
    with TestClient(app) as c:
        for _ in range(5):
            assert _login(c, "wrong-token-123456").headers["location"] == "/admin/login?error=wrong-token"
        blocked = _login(c)  # even the right token waits now
        assert blocked.headers["location"] == "/admin/login?error=too-many" and int(blocked.headers["retry-after"]) > 0
        assert c.get("/admin").status_code == 401
        page = c.get("/admin/login?error=too-many").text
        assert "Too many failed logins" in page
        forged = c.get("/admin/login?error=Your+token+expired,+log+in+at+evil.example").text
        assert "evil.example" not in forged
    app.state.engine.dispose()


def test_admin_messages_in_the_url_must_be_signed(client):
    assert "evil.example" not in client.get("/admin?error=go+to+evil.example", headers=BEARER).text
    upload = [("files", ("notes.txt", b"x", "text/plain"))]
    r = client.post("/admin/studies", files=upload, data={"name": "x"}, headers=BEARER, follow_redirects=False)
    assert "only .json and .jsonl" in client.get(r.headers["location"], headers=BEARER).text


def test_judge_and_annotator_links_can_be_revoked_and_reissued(client):
    token = _invite(client, "ann")["ann"]
    assert client.get(f"/j/{token}").status_code == 200
    assert client.post("/admin/studies/1/judges/1/revoke", headers=BEARER).status_code == 200
    assert client.get(f"/j/{token}").status_code == 404
    page = client.post("/admin/studies/1/judges/1/reissue", headers=BEARER).text
    fresh = re.search(r"/j/([\w-]+)</code>", page).group(1)
    assert fresh != token and client.get(f"/j/{fresh}").status_code == 200 and client.get(f"/j/{token}").status_code == 404
    assert client.post("/admin/studies/1/judges/99/revoke", headers=BEARER).status_code == 404
    r = client.post("/admin/annotate/projects", headers=BEARER, data={"name": "p", "overlap": "0"},
                    files={"sentences": ("s.txt", b"Rain raises rivers.\n")}, follow_redirects=False)
    project = r.headers["location"]
    invited = client.post(f"{project}/invite", headers=BEARER, data={"names": "bea"}).text
    link = re.search(r"http://testserver(/annotate/a/[\w-]+)", invited).group(1)
    assert client.get(link).status_code == 200
    assert client.post(f"{project}/revoke", headers=BEARER, data={"name": "bea"}).status_code == 200
    assert client.get(link).status_code == 404


def test_csv_cells_that_spreadsheets_would_run_are_defused(client, tmp_path: Path):
    cases = {"=1+1": "'=1+1", "+SUM(A1)": "'+SUM(A1)", "-2+3": "'-2+3", "@cmd": "'@cmd", "\t=x": "'\t=x",
             "-0.5": "-0.5", "+": "+", "-": "-", "rain": "rain", "": "", 3: 3, None: None}
    for cell, expected in cases.items():
        assert safe_cell(cell) == expected, cell
    from fcmatch.annotate.project import assign, create_project, invite
    from fcmatch.annotate.results import export_project
    from fcmatch.annotate.sentences import SentenceRecord
    from fcmatch.annotate.tasks import save_task

    with client.app.state.sessions.begin() as session:
        project = create_project(session, "csv", [SentenceRecord("=HYPERLINK(1) raises rivers.")], 0.0)
        invite(session, project, ["ann"])
        assign(session, project)
        task = project.annotators[0].tasks[0]
        save_task(session, task, {"edges": [{"cause": "@rain", "effect": "rivers", "sign": "-"}], "status": "done"}, 0)
        export_project(session, project, tmp_path / "out.csv")
        export_project(session, project, tmp_path / "out.jsonl")
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK(1)" in text and "'@rain" in text and "Negative" in text
    assert json.loads((tmp_path / "out.jsonl").read_text())["edges"][0]["cause"] == "@rain"  # only CSV changes


def test_access_log_keeps_secret_links_out(tmp_path: Path):
    assert redact_path('"GET /j/abcDEF_123-x/next HTTP/1.1" 200') == '"GET /j/…/next HTTP/1.1" 200'
    assert redact_path("/annotate/a/tok3n/t/4?x=1") == "/annotate/a/…/t/4?x=1"
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "FCMATCH_ADMIN_TOKEN": ADMIN}
    command = [sys.executable, "-m", "fcmatch.cli", "serve", "--db", f"sqlite:///{tmp_path / 's.sqlite'}",
               "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        httpx.get(f"http://127.0.0.1:{port}/j/SECRET-judge-token")
        httpx.get(f"http://127.0.0.1:{port}/annotate/a/SECRET-annotator-token/t/1")
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    text = log.read_text()
    assert "GET /j/… HTTP" in text and "/annotate/a/…/t/1" in text
    assert "SECRET" not in text
