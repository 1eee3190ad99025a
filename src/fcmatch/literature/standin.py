"""Local stand-ins for the Crossref and arXiv APIs, on 127.0.0.1, answering in the real formats.

Neither API can be reached from every machine that runs fcmatch (nor should tests call them), so the resolver,
search and fetch are tested, and the resolver measured, against this server:

- ``GET /works?query.bibliographic=...&rows=...&filter=from-pub-date:Y1,until-pub-date:Y2``: a Crossref
  ``work-list`` message, candidates ranked by rapidfuzz ``token_set_ratio`` against the query (a crude stand-in
  for Crossref's relevance), with Crossref's ``X-Rate-Limit-*`` headers;
- ``GET /api/query?search_query=...&start=...&max_results=...``: an arXiv Atom feed with OpenSearch totals;
- ``GET /pdf/<id>``: the entry's PDF bytes, optionally dribbled out slowly (to kill a download mid-way).

Scripted faults (a status, a body, a delay) are served first, in order, for the route they name, so a test can
ask for "two 429s, then the real answer" or a malformed body. :func:`works_from_references` builds Crossref
records from references that print their DOI, with the differences a real Crossref record has from a printed
reference, plus near-miss decoys.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from rapidfuzz import fuzz

from fcmatch.literature.document import Reference


@dataclass
class Fault:
    """One scripted answer: ``status`` with ``body`` after ``delay`` seconds (longer than a client's timeout
    makes a timeout)."""

    status: int = 503
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class StandIn:
    """The server; use as a context manager, or :meth:`start` and :meth:`stop`.

    Args:
        works: Crossref work items (``DOI``, ``title``, ``author``, ``issued``, ...).
        entries: arXiv entries: dicts with id, title, summary, authors, published, categories, doi.
        pdfs: arXiv id -> PDF bytes.
        chunk_delay: seconds between 1 KiB chunks of a PDF.
        honour_filter: apply ``/works``'s year filter as Crossref does (off: candidates from any year, to test
            that the client checks years itself).
    """

    def __init__(self, works: list[dict[str, Any]] | None = None, entries: list[dict[str, Any]] | None = None,
                 pdfs: dict[str, bytes] | None = None, chunk_delay: float = 0.0, honour_filter: bool = True) -> None:
        self.works, self.entries, self.pdfs = list(works or []), list(entries or []), dict(pdfs or {})
        self.chunk_delay, self.honour_filter = chunk_delay, honour_filter
        self.user_agents: list[str] = []
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, route: str, *faults: Fault) -> None:
        """Queue ``faults`` for ``route`` (``/works``, ``/api/query`` or ``/pdf``)."""
        self.faults.setdefault(route, []).extend(faults)

    def start(self, port: int = 0) -> StandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                standin._handle(self)

            def log_message(self, *args: Any) -> None:  # the test output stays quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(h.path)
        params = dict(urllib.parse.parse_qsl(parsed.query))
        self.requests.append(h.path)
        self.user_agents.append(h.headers.get("User-Agent", ""))
        route = next((r for r in ("/works", "/api/query", "/pdf") if parsed.path.startswith(r)), parsed.path)
        if self.faults.get(route):
            fault = self.faults[route].pop(0)
            time.sleep(fault.delay)
            return _send(h, fault.status, fault.body.encode(), "text/plain", fault.headers)
        if route == "/works":
            body = json.dumps(self._works(params)).encode()
            return _send(h, 200, body, "application/json",
                         {"X-Rate-Limit-Limit": "50", "X-Rate-Limit-Interval": "1s"})
        if route == "/api/query":
            return _send(h, 200, self._feed(params, f"http://{h.headers.get('Host')}").encode(),
                         "application/atom+xml")
        if route == "/pdf":
            ident = parsed.path[len("/pdf/"):]
            if ident not in self.pdfs:
                return _send(h, 404, b"not found", "text/plain")
            return self._dribble(h, self.pdfs[ident])
        return _send(h, 404, b"not found", "text/plain")

    def _works(self, params: dict[str, str]) -> dict[str, Any]:
        query = params.get("query.bibliographic", "")
        low, high = 0, 9999
        for part in params.get("filter", "").split(","):
            name, _, value = part.partition(":")
            if name == "from-pub-date" and value:
                low = int(value[:4])
            elif name == "until-pub-date" and value:
                high = int(value[:4])
        scored = []
        for work in self.works:
            year = work.get("issued", {}).get("date-parts", [[None]])[0][0]
            if self.honour_filter and year is not None and not low <= year <= high:
                continue
            family = (work.get("author") or [{}])[0].get("family", "")
            score = fuzz.token_set_ratio(query.lower(), f"{work['title'][0]} {family} {year}".lower())
            scored.append({**work, "score": round(score, 3)})
        scored.sort(key=lambda w: -w["score"])
        rows = int(params.get("rows", 20))
        return {"status": "ok", "message-type": "work-list", "message-version": "1.0.0",
                "message": {"total-results": len(scored), "items": scored[:rows], "items-per-page": rows}}

    def _feed(self, params: dict[str, str], base: str) -> str:
        words = [w.strip('"()').lower() for w in params.get("search_query", "").replace(":", " ").split()]
        words = [w for w in words if w and w not in ("and", "or", "andnot", "all", "ti", "abs", "au", "cat")]
        hits = [e for e in self.entries if any(w in f"{e['title']} {e['summary']}".lower() for w in words)]
        start, size = int(params.get("start", 0)), int(params.get("max_results", 10))
        entries = "".join(_entry(e, base) for e in hits[start:start + size])
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
                'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom">'
                f"<title>arXiv Query: {escape(params.get('search_query', ''))}</title>"
                f"<opensearch:totalResults>{len(hits)}</opensearch:totalResults>"
                f"<opensearch:startIndex>{start}</opensearch:startIndex>"
                f"<opensearch:itemsPerPage>{size}</opensearch:itemsPerPage>{entries}</feed>")

    def _dribble(self, h: BaseHTTPRequestHandler, data: bytes) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/pdf")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            for i in range(0, len(data), 1024):
                h.wfile.write(data[i:i + 1024])
                h.wfile.flush()
                time.sleep(self.chunk_delay)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
    try:
        h.send_response(status)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout) before the answer


def _entry(e: dict[str, Any], base: str) -> str:
    cats = e.get("categories") or ["cs.CL"]
    authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in e.get("authors", []))
    doi = f"<arxiv:doi>{escape(e['doi'])}</arxiv:doi>" if e.get("doi") else ""
    return (f"<entry><id>http://arxiv.org/abs/{e['id']}</id><updated>{e.get('published', '')}</updated>"
            f"<published>{e.get('published', '')}</published><title>{escape(e['title'])}</title>"
            f"<summary>{escape(e['summary'])}</summary>{authors}{doi}"
            f'<link href="http://arxiv.org/abs/{e["id"]}" rel="alternate" type="text/html"/>'
            f'<link title="pdf" href="{base}/pdf/{e["id"]}" rel="related" type="application/pdf"/>'
            f'<arxiv:primary_category term="{cats[0]}" scheme="http://arxiv.org/schemas/atom"/>'
            + "".join(f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>' for c in cats) + "</entry>")


def crossref_item(doi: str, title: str, year: int | None, authors: list[str], venue: str = "") -> dict[str, Any]:
    """A Crossref work item with the fields the resolver reads."""
    item: dict[str, Any] = {"DOI": doi, "title": [title], "type": "journal-article",
                            "author": [{"family": a, "given": "A."} for a in authors], "container-title": [venue]}
    if year:
        item["issued"] = {"date-parts": [[year]]}
    return item


def works_from_references(refs: list[Reference], drop_every: int = 0) -> list[dict[str, Any]]:
    """Crossref records for the references that print a DOI, and decoys around each.

    The true record differs from the printed reference as Crossref's do: title case, markup (``<i>``), a
    dropped final period, and for one in five the online year a year earlier. Three decoys per work: the same
    title with one word changed published three years later (a near miss the year rule must reject), a
    "Correction: <title>" notice a year later, and a paper by the same authors in the same year whose title
    shares the first half. With ``drop_every`` = k > 0 the true record of one work in k (chosen by DOI hash)
    is left out, so that only its decoys answer: a reference Crossref does not hold.
    """
    works = []
    for ref in refs:
        if not ref.doi or not ref.title:
            continue
        h = int(hashlib.sha256(ref.doi.encode()).hexdigest()[:8], 16)
        words = ref.title.rstrip(".").split()
        title = " ".join(w.capitalize() if h % 3 == 0 else w for w in words)
        if h % 4 == 1 and len(words) > 2:
            title = title.replace(words[1], f"<i>{words[1]}</i>", 1)
        year = ref.year - 1 if ref.year and h % 5 == 0 else ref.year
        if not (drop_every and h % drop_every == 0):
            works.append(crossref_item(ref.doi, title, year, ref.authors, ref.venue))
        if len(words) >= 3:
            near = words[:-1] + ["revisited" if words[-1].lower() != "revisited" else "again"]
            works.append(crossref_item(f"{ref.doi}.near", " ".join(near), (ref.year or 2000) + 3, ref.authors))
        works.append(crossref_item(f"{ref.doi}.corr", f"Correction: {ref.title}", (ref.year or 2000) + 1,
                                   ref.authors))
        half = words[: max(1, len(words) // 2)] + ["in a second cohort"]
        works.append(crossref_item(f"{ref.doi}.other", " ".join(half), ref.year, ref.authors))
    return works
