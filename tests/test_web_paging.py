"""Paging of the annotation admin pages: the project list and the project page's sentence table show
50 rows a page, counted and cut in the database (fcmatch.store.paging); HTTP tests on SQLite and on
PostgreSQL (tests/pg.py)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import pg
from fcmatch.annotate.project import create_project
from fcmatch.annotate.sentences import SentenceRecord
from fcmatch.store import open_sessions
from fcmatch.store.annotation_tables import ProjectSentence
from fcmatch.store.paging import PAGE_SIZE, page_count, paginate
from fcmatch.web.app import create_app

any_db_url = pg.any_db_url
ADMIN = "paging-admin-token-0123"
BEARER = {"Authorization": f"Bearer {ADMIN}"}


def test_page_count_and_clipping(tmp_path):
    assert [page_count(n, 50) for n in (0, 1, 50, 51, 100, 101)] == [1, 1, 1, 2, 2, 3]
    sessions = open_sessions(f"sqlite:///{tmp_path / 'p.sqlite'}")
    with sessions.begin() as session:
        project = create_project(session, "p", [SentenceRecord(f"s{k}") for k in range(7)])
        stmt = select(ProjectSentence).where(ProjectSentence.project_id == project.id).order_by(ProjectSentence.position)
        pages = [paginate(session, stmt, n, size=3) for n in (0, 1, 2, 3, 99)]
    sessions.kw["bind"].dispose()
    assert [[s.text for s in p.rows] for p in pages] == [["s0", "s1", "s2"], ["s0", "s1", "s2"], ["s3", "s4", "s5"],
                                                         ["s6"], ["s6"]]
    assert [(p.number, p.pages, p.total, p.first) for p in pages[2:]] == [(2, 3, 7, 4), (3, 3, 7, 7), (3, 3, 7, 7)]


@pytest.fixture
def client(any_db_url):
    with TestClient(create_app(any_db_url, admin_token=ADMIN)) as c:
        yield c
        c.app.state.engine.dispose()


def test_project_page_pages_its_sentences_with_who_annotates_them(client):
    n = 2 * PAGE_SIZE + 20
    text = "".join(f"Sentence number {k} raises costs.\n" for k in range(1, n + 1))
    r = client.post("/admin/annotate/projects", headers=BEARER, data={"name": "big", "overlap": "0"},
                    files={"sentences": ("s.txt", text.encode())}, follow_redirects=False)
    url = r.headers["location"]
    client.post(f"{url}/invite", headers=BEARER, data={"names": "ann"})
    assert client.post(f"{url}/assign", headers=BEARER).status_code == 200

    first = client.get(url, headers=BEARER).text
    table = first.split('id="sentences"', 1)[1].split("</table>", 1)[0]
    assert "Sentence number 1 raises" in table and "Sentence number 50 raises" in table
    assert "Sentence number 51 raises" not in table and table.count("ann: not started") == PAGE_SIZE
    assert f"Page 1 of 3 (1–50 of {n} sentences)" in first and 'rel="prev"' not in first.split('id="sentence-pager"')[1]

    last = client.get(f"{url}?matcher=fuzzy&page=3", headers=BEARER).text
    table = last.split('id="sentences"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r"Sentence number (\d+) raises", table) == [str(k) for k in range(101, n + 1)]
    assert f"101–{n} of {n} sentences" in last and f'href="{url}?matcher=fuzzy&amp;page=2" rel="prev"' in last
    assert client.get(f"{url}?page=99", headers=BEARER).text.count("<tr><td class=\"num\">") >= 20  # the last page
    assert client.get(f"{url}?page=0", headers=BEARER).status_code == 422


def test_project_list_pages(client):
    with client.app.state.sessions.begin() as session:
        for k in range(PAGE_SIZE + 1):
            create_project(session, f"project-{k:02d}", [SentenceRecord("Rain raises rivers.")])
    first = client.get("/admin/annotate", headers=BEARER).text
    assert "project-00" in first and "project-49" in first and "project-50" not in first
    assert f"Page 1 of 2 (1–50 of {PAGE_SIZE + 1} projects)" in first
    second = client.get("/admin/annotate?page=2", headers=BEARER).text
    assert "project-50" in second and "project-49" not in second and 'href="/admin/annotate?page=1"' in second
