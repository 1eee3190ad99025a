"""End to end in a real headless Chromium: a judge opens their link and makes three comparisons (mouse
and keyboard), then the admin logs in and sees them; right-to-left concepts keep their places around
the arrow; on a 390 px phone nothing is wider than the screen; a stale tab's verdict gets a page that
says so. Skipped when /usr/bin/chromium is missing."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.store.engine import make_engine, session_factory
from fcmatch.store.schema import init_db
from fcmatch.study.create import StudyConfig, create_study, invite_judge
from fcmatch.study.demo import demo_maps
from loadtest import start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
ADMIN = "browser-admin-token"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


PHONE = {"width": 390, "height": 844}  # an iPhone 12-14 screen in CSS pixels
# Hebrew concepts: without <bdi>, "rain -> river" in an RTL script is drawn as "river <- rain"
RTL = [CausalMap("גשם מעלה את הנהר.", [Edge("גשם כבד", "מפלס הנהר", 1)], "p"),
       CausalMap("גשם מעלה את הנהר.", [Edge("גשם", "הנהר", -1)], "q")]


def _serve(tmp_path: Path, maps: list[CausalMap], per_judge: int = 6):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    url = f"sqlite:///{tmp_path / 'browser.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    with session_factory(engine).begin() as session:
        study = create_study(session, maps, StudyConfig("browser demo", per_judge=per_judge))
        token = invite_judge(session, study, "alice")[1]
    engine.dispose()
    proc, base = start_server(url, admin_token=ADMIN)
    return proc, base, token


@pytest.fixture
def server(tmp_path: Path):
    proc, base, token = _serve(tmp_path, [m for per in demo_maps(4).values() for m in per])
    yield base, token
    stop_server(proc)


@pytest.fixture
def rtl_server(tmp_path: Path):
    proc, base, token = _serve(tmp_path, RTL, per_judge=1)
    yield base, token
    stop_server(proc)


def _launch(p):
    return p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)


@contextlib.contextmanager
def _judge_page(base: str, token: str):
    """A headless Chromium on the judge's page; yields ``(browser, page)``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page()
            page.goto(f"{base}/j/{token}")
            yield browser, page
        finally:
            browser.close()


def _admin(browser, base: str):
    """A new page of ``browser`` logged in as the admin."""
    admin = browser.new_page()
    admin.goto(f"{base}/admin/login")
    admin.fill("#admin-token", ADMIN)
    admin.click("button[type=submit]")
    return admin


def _fits(page, width: int) -> None:
    """Nothing on the page is wider than the viewport (no sideways scrolling)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for box in page.evaluate("[...document.querySelectorAll('button')].map(b => b.getBoundingClientRect().right)"):
        assert box <= width


def test_judge_compares_three_pairs_and_admin_sees_them(server):
    from playwright.sync_api import expect, sync_playwright

    base, token = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(f"{base}/j/{token}")
            expect(page.locator("#progress-text")).to_have_text("1 of 6")
            assert page.locator("#map-a svg.map").count() == 1 and page.locator("#map-b svg.map").count() == 1

            page.click("#btn-a")  # 1: the mouse
            expect(page.locator("#progress-text")).to_have_text("2 of 6")

            page.fill("#comment", "a tie, both miss the sign")  # typing "a"/"b"/"t" here must not vote
            expect(page.locator("#progress-text")).to_have_text("2 of 6")
            page.locator("#comment").blur()
            page.keyboard.press("t")  # 2: keyboard, tie
            expect(page.locator("#progress-text")).to_have_text("3 of 6")

            page.keyboard.press("3")  # 3: keyboard, B better
            expect(page.locator("#progress-text")).to_have_text("4 of 6")
            assert not errors, errors  # no CSP violation or script error

            admin = browser.new_page()
            admin.goto(f"{base}/admin")  # not logged in: sent to the login page
            expect(admin).to_have_url(f"{base}/admin/login")
            admin.fill("#admin-token", ADMIN)
            admin.click("button[type=submit]")
            expect(admin.locator("#studies")).to_contain_text("browser demo")
            admin.click("text=browser demo")
            expect(admin.locator("#judges")).to_contain_text("alice")
            assert admin.locator("#judges tr:has-text('alice') td.num").first.inner_text() == "3"
            admin.goto(f"{base}/admin/studies/1/results")
            expect(admin.locator("#verdict-count")).to_contain_text("3 verdicts (1 ties)")
            export = admin.request.get(f"{base}/admin/studies/1/export.jsonl").text()
            verdicts = [line.split('"verdict": "')[1].split('"')[0] for line in export.splitlines()]
            assert verdicts == ["A", "tie", "B"]
            assert "a tie, both miss the sign" in export
        finally:
            browser.close()


def test_right_to_left_concepts_keep_their_place_around_the_arrow(rtl_server):
    with _judge_page(*rtl_server) as (_, page):
        item = page.locator("#map-a ol.edges li").first
        cause, effect = item.locator("bdi.concept").nth(0), item.locator("bdi.concept").nth(1)
        arrow = item.locator(".arrow")
        # the page is left-to-right: cause, arrow, effect from left to right whatever the concepts' script
        assert cause.bounding_box()["x"] < arrow.bounding_box()["x"] < effect.bounding_box()["x"]


def test_judge_page_fits_a_phone_and_a_stale_tab_is_told(server):
    from playwright.sync_api import expect, sync_playwright

    base, token = server
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            context = browser.new_context(viewport=PHONE)
            page = context.new_page()
            page.goto(f"{base}/j/{token}")
            _fits(page, PHONE["width"])
            stale = context.new_page()
            stale.goto(f"{base}/j/{token}")  # the same pair, in a second tab
            page.click("#btn-a")
            expect(page.locator("#progress-text")).to_have_text("2 of 6")
            stale.click("#btn-b")  # a different verdict for a pair already judged
            expect(stale.locator("#notice")).to_contain_text("already judged this pair")
            assert "A better" in stale.inner_text("#notice") and "{" not in stale.inner_text("body")
            _fits(stale, PHONE["width"])
            stale.click("#undo")  # take back the first verdict: the pair comes back
            expect(stale.locator("#progress-text")).to_have_text("1 of 6")
            stale.click("#btn-b")
            expect(stale.locator("#progress-text")).to_have_text("2 of 6")
        finally:
            browser.close()


def test_judge_skips_marks_both_bad_and_flags_by_keyboard(server):
    from playwright.sync_api import expect

    base, _ = server
    with _judge_page(*server) as (browser, page):
        page.keyboard.press("f")  # flag ...
        assert page.is_checked("#flag")
        page.keyboard.press("n")  # ... and "both bad"
        expect(page.locator("#progress-text")).to_have_text("2 of 6")
        assert not page.is_checked("#flag")  # a new pair starts unflagged
        page.click("#btn-skip")
        expect(page.locator("#progress-text")).to_have_text("3 of 6")
        page.keyboard.press("s")
        expect(page.locator("#progress-text")).to_have_text("4 of 6")
        admin = _admin(browser, base)
        admin.goto(f"{base}/admin/studies/1/results")
        expect(admin.locator("#verdict-count")).to_contain_text("1 verdicts (1 ties)")
        expect(admin.locator("#verdict-options")).to_contain_text("2 skipped")
        expect(admin.locator("#comments")).to_contain_text("both bad")
