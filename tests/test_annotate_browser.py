"""A real browser (Debian's Chromium via Playwright) annotates a sentence: adds two edges (one from
selected words), edits one, accepts a model suggestion, marks it done, and the export holds exactly
those edges; a second tab on the same sentence makes the first one show the conflict warning."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from fcmatch.annotate.project import assign, create_project, import_predictions, invite
from fcmatch.annotate.results import export_maps, suggestion_report
from fcmatch.annotate.sentences import SentenceRecord
from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.store.annotation_tables import Project

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SENTENCE = "Heavy rainfall and heat change crop yield and farm income."

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """The app on a real port, with a project whose first sentence has one model suggestion."""
    uvicorn = pytest.importorskip("uvicorn")
    from fcmatch.web.app import create_app

    app = create_app(f"sqlite:///{tmp_path / 'app.sqlite'}", admin_token="browser-admin-token")
    with app.state.sessions.begin() as session:
        project = create_project(session, "pilot", [SentenceRecord(SENTENCE), SentenceRecord("Taxes cut demand.")], 0.0)
        ((_, token),) = invite(session, project, ["ann"])
        assign(session, project)
        suggestion = CausalMap(SENTENCE, [Edge("rainfall", "farm income", 1)], meta={"model": "tiny-model"})
        import_predictions(session, project, [suggestion])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}/annotate/a/{token}"
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


def _select_words(page, words: str) -> None:
    page.evaluate(
        """(words) => {
            const node = document.getElementById('sentence').firstChild;
            const start = node.textContent.indexOf(words);
            const range = document.createRange();
            range.setStart(node, start);
            range.setEnd(node, start + words.length);
            const sel = window.getSelection();
            sel.removeAllRanges();
            sel.addRange(range);
        }""",
        words,
    )


def test_annotator_adds_edits_accepts_and_export_matches(served):
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    app, link = served
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.goto(link)
            page.click("#continue")
            page.wait_for_selector("#sentence")
            assert page.inner_text("#sentence") == SENTENCE

            # edge 1, typed
            page.click("#add-edge")
            page.keyboard.type("heat")
            page.keyboard.press("Tab")
            page.keyboard.type("crop yield")
            page.select_option("#edges tr:nth-child(1) .sign", "-")
            # edge 2: the cause from selected words, the effect typed
            page.click("#add-edge")
            _select_words(page, "Heavy rainfall")
            page.click("#to-cause")
            assert page.input_value("#edges tr:nth-child(2) .cause") == "Heavy rainfall"
            page.fill("#edges tr:nth-child(2) .effect", "crop yield")
            # edit edge 1
            page.fill("#edges tr:nth-child(1) .effect", "farm income")
            # accept the suggestion
            page.click("#suggestions .accept")
            assert "accepted" in page.inner_text("#suggestions")
            expect(page.locator("#save-status")).to_have_text("Saved")

            page.keyboard.press("Control+Enter")  # done & next
            page.wait_for_url("**/t/*")
            expect(page.locator("#sentence")).to_have_text("Taxes cut demand.")

            # two tabs on one sentence: the second saves first, the first is told instead of overwriting
            other = browser.new_page()
            other.goto(page.url)
            other.click("#add-edge")
            other.keyboard.type("taxes")
            expect(other.locator("#save-status")).to_contain_text("Draft saved")  # "taxes" has no effect yet
            page.click("#add-edge")
            page.keyboard.type("demand")
            page.wait_for_selector("#conflict", state="visible")
            assert "another tab" in page.inner_text("#conflict")
        finally:
            browser.close()

    with app.state.sessions() as session:
        project = session.query(Project).one()
        (cmap,) = export_maps(session, project)
        rates = suggestion_report(session, project)
    assert cmap.text == SENTENCE
    assert sorted((e.cause, e.effect, e.sign) for e in cmap.edges) == [
        ("Heavy rainfall", "crop yield", 1),  # cause from selected words
        ("heat", "farm income", -1),  # typed, then its effect edited
        ("rainfall", "farm income", 1),  # the accepted suggestion
    ]
    assert rates["tiny-model"]["accepted"] == 1 and rates["tiny-model"]["decided"] == 1


def test_half_typed_edge_blocks_done_and_the_editor_fits_a_phone(served):
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    app, link = served
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            page.goto(link)
            page.click("#continue")
            page.wait_for_selector("#sentence")
            page.click("#add-edge")
            page.keyboard.type("heat")  # a cause, no effect yet
            expect(page.locator("#save-status")).to_contain_text("Draft saved. Edge 1 has no effect yet")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
            editor = page.url
            page.click("#done")
            expect(page.locator("#done-error")).to_contain_text("Edge 1 has no effect yet")
            assert page.url == editor  # not marked done, not moved on
            # each concept of a suggestion is isolated, so a right-to-left one cannot swap with the arrow
            assert page.locator("#suggestions bdi").count() == 2
        finally:
            browser.close()
    with app.state.sessions() as session:
        from fcmatch.store.annotation_tables import Task

        task = next(t for t in session.query(Task) if t.version)
        assert task.status == "draft" and '"cause": "heat"' in task.doc_json  # the half-typed edge is kept
