"""The corpus-map page's JavaScript in a real headless Chromium: served under the app's
Content-Security-Policy (requests answered by FastAPI's test client through Playwright's routing), it draws
the map, filters by weight and by source, and lists an edge's evidence on click. Skipped when
/usr/bin/chromium is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fcmatch.fcm.build import build_corpus
from fcmatch.fcm.config import MergeSettings
from fcmatch.fcm.corpus import save_corpus
from test_fcm_build import MAPS, fake_embed

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]


def test_review_page_draws_filters_and_shows_evidence(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    from fcmatch.web.fcm import create_fcm_app

    maps = [*MAPS, ("annotator", MAPS[0][1])]  # a second source for the filter
    path = save_corpus(build_corpus(maps, MergeSettings(threshold=0.9), embedder=fake_embed), tmp_path / "c.json")
    client = TestClient(create_fcm_app(path))
    errors: list[str] = []

    def answer(route):
        response = client.get(route.request.url.replace("http://fcm.test", ""))
        route.fulfill(status=response.status_code, body=response.content, headers=dict(response.headers))

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.route("http://fcm.test/**", answer)
        page.goto("http://fcm.test/fcm/c")
        assert page.locator("#map line").count() == 2 and page.locator("#map circle").count() == 3
        page.locator("#map line").first.dispatch_event("click")
        evidence = page.locator("#evidence p")
        assert evidence.count() == 4  # rain -> yield: three model sentences and the annotator's
        assert "Rainfall raises crop yield." in page.locator("#evidence").inner_text()
        page.select_option("#source", "annotator")
        assert page.locator("#map line").count() == 1
        page.select_option("#source", "")
        page.locator("#wmin").fill("0.45")  # only drought -> yield (|w| 0.5) stays
        page.locator("#wmin").dispatch_event("input")
        assert page.locator("#map line").count() == 1 and page.locator("#wval").inner_text() == "0.45"
        browser.close()
    assert errors == []
