"""arXiv: ``fcmatch lit search`` (API metadata to JSONL) and ``fcmatch lit fetch`` (PDFs into a cache).

    fcmatch lit search 'all:"fuzzy cognitive map"' --output lit/arxiv.jsonl --max-results 200
    fcmatch lit fetch lit/arxiv.jsonl --cache-dir lit/pdfs

Search pages through ``/api/query`` (``start``, ``max_results``) with the 3 s pause the API's terms ask for,
reading the Atom feed and its OpenSearch total. Fetch downloads each paper's PDF once: bytes stream into a
temporary file under ``<cache>/tmp`` and are renamed to ``objects/<sha256[:2]>/<sha256>.pdf`` only when complete
(a rename is atomic), then ``index.json`` (arXiv id -> object) is rewritten atomically. A re-run skips every id
the index holds, so a killed fetch resumes with what is missing; leftovers in ``tmp`` are removed at the start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from lxml import etree
from tqdm.auto import tqdm

from fcmatch.config import save_beside
from fcmatch.data.formats import atomic_write
from fcmatch.literature.client import PoliteClient, RequestFailed
from fcmatch.literature.config import FetchConfig, SearchConfig
from fcmatch.literature.document import read_records, write_records

log = logging.getLogger(__name__)
NS = {"a": "http://www.w3.org/2005/Atom", "os": "http://a9.com/-/spec/opensearch/1.1/",
      "arxiv": "http://arxiv.org/schemas/atom"}


def parse_feed(body: bytes, url: str) -> tuple[list[dict[str, Any]], int]:
    """(records, total results) of an arXiv Atom feed.

    Raises:
        RequestFailed: malformed XML, or the API's error entry (its message), naming ``url``.
    """
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as err:
        raise RequestFailed(url, f"malformed Atom feed ({err})") from None
    if root.tag != f"{{{NS['a']}}}feed":
        raise RequestFailed(url, f"not an Atom feed (root <{etree.QName(root).localname}>)")
    records = []
    for entry in root.iterfind("a:entry", NS):
        ident = _text(entry, "a:id")
        if "/api/errors" in ident:
            raise RequestFailed(url, f"arXiv API error: {_text(entry, 'a:summary')}")
        pdf = next((ln.get("href") for ln in entry.iterfind("a:link", NS) if ln.get("title") == "pdf"), "")
        primary = entry.find("arxiv:primary_category", NS)
        records.append({
            "id": ident.rsplit("/abs/", 1)[-1],
            "title": _text(entry, "a:title"),
            "summary": _text(entry, "a:summary"),
            "authors": [_text(a, "a:name") for a in entry.iterfind("a:author", NS)],
            "published": _text(entry, "a:published"),
            "updated": _text(entry, "a:updated"),
            "doi": _text(entry, "arxiv:doi"),
            "primary_category": primary.get("term") if primary is not None else "",
            "categories": [c.get("term") for c in entry.iterfind("a:category", NS)],
            "pdf_url": pdf,
            "abs_url": ident,
        })
    total = _text(root, "os:totalResults")
    return records, int(total) if total.isdigit() else len(records)


def _text(el: etree._Element, path: str) -> str:
    node = el.find(path, NS)
    return " ".join("".join(node.itertext()).split()) if node is not None else ""


def search(config: SearchConfig) -> dict[str, Any]:
    """Run ``fcmatch lit search``: page through the results, write them as JSONL (config beside).

    Returns:
        Records written, the API's total for the query, and the calls made.

    Raises:
        RequestFailed: a call that failed for good or a malformed feed, naming the URL.
    """
    records: list[dict[str, Any]] = []
    calls, total = 0, None
    with PoliteClient(config.arxiv_url, config.http, min_interval=config.delay) as client:
        while len(records) < config.max_results and (total is None or len(records) < total):
            size = min(config.page_size, config.max_results - len(records))
            params = {"search_query": config.query, "start": len(records), "max_results": size,
                      "sortBy": config.sort_by, "sortOrder": "descending"}
            response = client.get("/api/query", params)
            calls += 1
            page, total = parse_feed(response.content, client.url("/api/query", params))
            records += page
            if len(page) < size:
                break  # the API gave what it has (it sometimes reports more than it returns)
    write_records(records[: config.max_results], config.output)
    save_beside(config, config.output)
    return {"records": min(len(records), config.max_results), "total": total, "calls": calls,
            "output": config.output}


class PdfCache:
    """Content-addressed PDF store: ``objects/<sha256[:2]>/<sha256>.pdf`` plus ``index.json``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp.iterdir():  # left by a run killed mid-download
            stale.unlink()
        path = self.root / "index.json"
        self.index: dict[str, dict[str, Any]] = json.loads(path.read_text("utf-8")) if path.is_file() else {}

    def has(self, ident: str) -> bool:
        entry = self.index.get(ident)
        return bool(entry) and (self.root / entry["path"]).is_file()

    def add(self, ident: str, stream: Iterator[bytes], url: str) -> dict[str, Any]:
        """Store the bytes of ``stream`` under their hash and index them as ``ident``; nothing is left behind
        when the stream fails.

        Raises:
            RequestFailed: the bytes are not a PDF.
        """
        digest, size = hashlib.sha256(), 0
        fd, name = tempfile.mkstemp(dir=self.tmp, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in stream:
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
            with open(name, "rb") as handle:
                if handle.read(5) != b"%PDF-":
                    raise RequestFailed(url, "the response is not a PDF")
            sha = digest.hexdigest()
            rel = Path("objects") / sha[:2] / f"{sha}.pdf"
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(name, self.root / rel)
        finally:
            Path(name).unlink(missing_ok=True)
        self.index[ident] = {"sha256": sha, "path": str(rel), "bytes": size, "url": url}
        with atomic_write(self.root / "index.json") as handle:
            json.dump(self.index, handle, indent=1, sort_keys=True)
        return self.index[ident]


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """SIGTERM raises SystemExit while fetching, so the temporary file of a download in flight is removed."""
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def fetch(config: FetchConfig) -> dict[str, Any]:
    """Run ``fcmatch lit fetch``: download what the cache lacks, resumable.

    Returns:
        Counts downloaded, skipped (already cached) and failed, with each failure's URL and reason.
    """
    records = [r for r in read_records(config.metadata) if r.get("pdf_url")]
    if config.max_results:
        records = records[: config.max_results]
    cache = PdfCache(config.cache_dir)
    todo = [r for r in records if not cache.has(_key(r))]
    failed: list[dict[str, str]] = []
    with PoliteClient("", config.http, min_interval=config.delay) as client, _terminate_cleanly():
        for record in tqdm(todo, desc="fetch", unit="pdf", disable=not config.progress):
            error = _download(client, cache, record, config.http.retries)
            if error:
                failed.append({"id": record["id"], "url": record["pdf_url"], "reason": error})
                log.warning("%s", error)
    save_beside(config, Path(config.cache_dir))
    return {"downloaded": len(todo) - len(failed), "skipped": len(records) - len(todo), "failed": failed,
            "cache_dir": config.cache_dir}


def _key(record: dict[str, Any]) -> str:
    return re.sub(r"[^\w.\-/]", "_", str(record["id"]))


def _download(client: PoliteClient, cache: PdfCache, record: dict[str, Any], retries: int) -> str:
    """'' on success, else the reason; a body cut off mid-way is downloaded again from the start."""
    url = record["pdf_url"]
    for attempt in range(retries + 1):
        try:
            with client.stream(url) as response:
                cache.add(_key(record), response.iter_bytes(), url)
            return ""
        except RequestFailed as err:
            return str(err)
        except httpx.TransportError as err:  # the connection dropped while the body streamed
            if attempt == retries:
                return f"GET {url}: {type(err).__name__} while downloading, after {attempt + 1} attempts"
    return f"GET {url}: failed"
