"""arXiv search and fetch against the local stand-in: paging, encoding, pacing, retries, malformed feeds, and
a fetch killed mid-way that resumes with only what is missing and leaves no partial file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fcmatch.literature.arxiv import PdfCache, fetch, parse_feed, search
from fcmatch.literature.client import RequestFailed
from fcmatch.literature.config import FetchConfig, HttpSettings, SearchConfig
from fcmatch.literature.standin import Fault, StandIn

FAST = HttpSettings(user_agent="fcmatch-test/1", timeout=5.0, retries=2, backoff=0.01, max_backoff=0.05)
ENTRIES = [{"id": f"2101.{i:05d}v1", "title": f"Causal maps of soil, part {i}", "summary": "Fuzzy cognitive maps.",
            "authors": ["Ada Lovelace", "Alan Turing"], "published": f"2021-01-0{i % 9 + 1}T00:00:00Z",
            "categories": ["cs.CL", "cs.AI"], "doi": f"10.5555/arxiv.{i}" if i % 2 else ""} for i in range(7)]


def _pdf(i: int, size: int = 8192) -> bytes:
    return b"%PDF-1.4\n" + bytes([i]) * size + b"\n%%EOF\n"


def _search(server: StandIn, tmp_path: Path, **kw: object) -> dict:
    values = {"query": 'all:"causal maps" AND cat:cs.CL', "output": str(tmp_path / "a.jsonl"), "delay": 0.0,
              "arxiv_url": server.url, "http": FAST, **kw}
    return search(SearchConfig(**values))


def test_search_pages_encodes_and_writes_jsonl(tmp_path: Path) -> None:
    with StandIn(entries=ENTRIES) as server:
        started = time.monotonic()
        summary = _search(server, tmp_path, max_results=5, page_size=2, delay=0.2)
        elapsed = time.monotonic() - started
        assert server.requests[0] == ("/api/query?search_query=all%3A%22causal+maps%22+AND+cat%3Acs.CL&start=0"
                                      "&max_results=2&sortBy=relevance&sortOrder=descending")
        assert [r.split("&")[1] for r in server.requests] == ["start=0", "start=2", "start=4"]
        assert server.user_agents == ["fcmatch-test/1"] * 3
    assert summary == {"records": 5, "total": 7, "calls": 3, "output": str(tmp_path / "a.jsonl")}
    assert elapsed >= 0.4  # two pauses of --delay between three calls
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [e["id"] for e in ENTRIES[:5]]
    first = records[1]
    assert first["title"] == "Causal maps of soil, part 1" and first["authors"] == ["Ada Lovelace", "Alan Turing"]
    assert first["doi"] == "10.5555/arxiv.1" and first["categories"] == ["cs.CL", "cs.AI"]
    assert first["primary_category"] == "cs.CL" and first["pdf_url"].endswith("/pdf/2101.00001v1")
    assert (tmp_path / "a.config.yaml").is_file()


def test_search_retries_a_429_and_reports_a_persistent_failure_with_the_url(tmp_path: Path) -> None:
    with StandIn(entries=ENTRIES) as server:
        server.fail("/api/query", Fault(429, headers={"Retry-After": "0"}))
        assert _search(server, tmp_path, max_results=3)["records"] == 3
        server.fail("/api/query", *[Fault(503)] * 3)
        with pytest.raises(RequestFailed, match=r"GET http://127\.0\.0\.1:\d+/api/query\?search_query=.*HTTP 503 after 3"):
            _search(server, tmp_path, max_results=3)


def test_malformed_and_error_feeds_name_the_url(tmp_path: Path) -> None:
    with StandIn(entries=ENTRIES) as server:
        server.fail("/api/query", Fault(200, "<feed><entry>"))
        with pytest.raises(RequestFailed, match="/api/query.*malformed Atom feed"):
            _search(server, tmp_path)
    error = ('<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>http://arxiv.org/api/errors#incorrect_id</id>'
             "<summary>incorrect id format for 1234</summary></entry></feed>")
    with pytest.raises(RequestFailed, match="arXiv API error: incorrect id format"):
        parse_feed(error.encode(), "http://x/api/query")
    with pytest.raises(RequestFailed, match="not an Atom feed"):
        parse_feed(b"<html/>", "http://x/api/query")


def test_fetch_skips_what_is_cached_and_reports_failures(tmp_path: Path) -> None:
    pdfs = {e["id"]: _pdf(i) for i, e in enumerate(ENTRIES[:3])}
    pdfs[ENTRIES[3]["id"]] = b"<html>not yet</html>"
    with StandIn(entries=ENTRIES, pdfs=pdfs) as server:
        _search(server, tmp_path, max_results=5)
        config = FetchConfig(metadata=str(tmp_path / "a.jsonl"), cache_dir=str(tmp_path / "cache"), delay=0.0,
                             http=FAST, progress=False)
        summary = fetch(config)
        assert summary["downloaded"] == 3 and summary["skipped"] == 0
        reasons = {f["id"]: f["reason"] for f in summary["failed"]}
        assert "not a PDF" in reasons[ENTRIES[3]["id"]] and "HTTP 404" in reasons[ENTRIES[4]["id"]]
        assert f"{server.url}/pdf/{ENTRIES[4]['id']}" in reasons[ENTRIES[4]["id"]]
        before = len(server.requests)
        again = fetch(config)
        assert again["skipped"] == 3 and len(server.requests) - before == 2  # only the two that failed
    cache = PdfCache(tmp_path / "cache")
    entry = cache.index[ENTRIES[0]["id"]]
    assert (tmp_path / "cache" / entry["path"]).read_bytes() == pdfs[ENTRIES[0]["id"]]
    assert entry["path"] == f"objects/{entry['sha256'][:2]}/{entry['sha256']}.pdf"
    assert not list((tmp_path / "cache" / "tmp").iterdir())


FETCH_SCRIPT = """
import sys
from fcmatch.literature.arxiv import fetch
from fcmatch.literature.config import FetchConfig, HttpSettings
fetch(FetchConfig(metadata=sys.argv[1], cache_dir=sys.argv[2], delay=0.0, progress=False, http=HttpSettings(timeout=30)))
"""


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_fetch_killed_mid_way_resumes_without_partial_files(tmp_path: Path, how: signal.Signals) -> None:
    entries = ENTRIES[:4]
    pdfs = {e["id"]: _pdf(i, 40 * 1024) for i, e in enumerate(entries)}  # 41 chunks at 10 ms: ~0.4 s each
    cache_dir = tmp_path / "cache"
    with StandIn(entries=entries, pdfs=pdfs, chunk_delay=0.01) as server:
        _search(server, tmp_path, max_results=4)
        proc = subprocess.Popen([sys.executable, "-c", FETCH_SCRIPT, str(tmp_path / "a.jsonl"), str(cache_dir)])
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                index = cache_dir / "index.json"
                if index.is_file() and len(json.loads(index.read_text())) >= 1:
                    break
                time.sleep(0.02)
            time.sleep(0.15)  # well inside the second download
            proc.send_signal(how)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        objects = [p for p in (cache_dir / "objects").rglob("*") if p.is_file()]
        done = json.loads((cache_dir / "index.json").read_text())
        assert 1 <= len(done) < 4 and len(objects) == len(done)
        assert {p.read_bytes() for p in objects} <= set(pdfs.values())  # no partial object
        if how == signal.SIGTERM:
            assert not list((cache_dir / "tmp").iterdir())  # cleaned up on the way out
        before = [r for r in server.requests if r.startswith("/pdf/")]
        summary = fetch(FetchConfig(metadata=str(tmp_path / "a.jsonl"), cache_dir=str(cache_dir), delay=0.0,
                                    http=FAST, progress=False))
        after = [r for r in server.requests if r.startswith("/pdf/")][len(before):]
    assert summary["skipped"] == len(done) and summary["downloaded"] == 4 - len(done)
    assert sorted(after) == sorted(f"/pdf/{e['id']}" for e in entries if e["id"] not in done)
    assert not list((cache_dir / "tmp").iterdir())
    index = json.loads((cache_dir / "index.json").read_text())
    assert {(cache_dir / v["path"]).read_bytes() for v in index.values()} == set(pdfs.values())
