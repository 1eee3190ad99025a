"""The Crossref resolver against the local stand-in: verification, retries, failures, malformed answers, the
cache, and the offline calibration on ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fcmatch.literature.client import PoliteClient, RequestFailed
from fcmatch.literature.config import CalibrateConfig, HttpSettings, ResolveConfig
from fcmatch.literature.crossref import Candidate, verify
from fcmatch.literature.document import Reference, read_references, write_records
from fcmatch.literature.doi import find_dois, is_valid_doi, normalize_doi
from fcmatch.literature.parse import parse_file
from fcmatch.literature.resolve import calibrate, resolve_references
from fcmatch.literature.standin import Fault, StandIn, crossref_item

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "jats"
FAST = HttpSettings(user_agent="fcmatch-test/1 (mailto:test@example.org)", timeout=2.0, retries=2, backoff=0.01,
                    max_backoff=0.05)
TITLE = "Cover crops suppress weeds in maize fields of the humid tropics"
REF = Reference("B1", "paper", "1", ["Smith", "Jones"], TITLE, 2020, "Agron J")
TRUE = crossref_item("10.1234/agj.2020.001", "Cover Crops Suppress <i>Weeds</i> in Maize Fields of the Humid Tropics.",
                     2019, ["Smith"])
NEAR = crossref_item("10.1234/near", "Cover crops suppress weeds in maize fields of the humid subtropics", 2024,
                     ["Smith"])


def _resolve(tmp_path: Path, url: str, refs: list[Reference], **kw: object) -> tuple[dict, list[Reference]]:
    write_records(refs, tmp_path / "refs.jsonl")
    config = ResolveConfig(references=str(tmp_path / "refs.jsonl"), output=str(tmp_path / "out.jsonl"),
                           crossref_url=url, mailto="test@example.org", http=FAST, progress=False, **kw)
    summary = resolve_references(config)
    return summary, read_references(tmp_path / "out.jsonl")


def test_true_record_accepted_despite_case_markup_and_online_year(tmp_path: Path) -> None:
    with StandIn([NEAR, TRUE]) as server:
        summary, (ref,) = _resolve(tmp_path, server.url, [REF])
        assert "mailto=test%40example.org" in server.requests[0] and "rows=5" in server.requests[0]
        assert "filter=from-pub-date%3A2019%2Cuntil-pub-date%3A2021" in server.requests[0]
        assert server.user_agents[0] == FAST.user_agent
    assert ref.resolved_doi == "10.1234/agj.2020.001" and ref.resolution["status"] == "resolved"
    assert summary["resolved"] == 1 and (tmp_path / "out.config.yaml").is_file()


def test_near_miss_title_with_the_wrong_year_is_rejected(tmp_path: Path) -> None:
    # a server that ignores the year filter: the client's own year check must refuse the near miss
    with StandIn([NEAR], honour_filter=False) as server:
        _, (ref,) = _resolve(tmp_path, server.url, [REF])
    assert ref.resolved_doi == "" and ref.resolution["status"] == "unresolved"
    assert ref.resolution["similarity"] > 90 and ref.resolution["reason"] == "year 2024 vs printed 2020"
    assert ref.title == TITLE  # kept, marked, never dropped


def test_verify_rules() -> None:
    def cand(title: str, year: int | None) -> Candidate:
        return Candidate.from_item(crossref_item("10.1/x", title, year, ["Smith"]))

    assert verify(REF, cand(TITLE, 2021), 90, 1).accepted
    assert not verify(REF, cand(TITLE, 2022), 90, 1).accepted
    assert not verify(REF, cand("Cover crops suppress pests in wheat fields of the dry tropics", 2020), 90, 1).accepted
    notice = verify(REF, cand(f"Correction: {TITLE}", 2020), 50, 1)
    assert not notice.accepted and notice.notice
    undated = Reference("x", title=TITLE)
    assert verify(undated, cand(TITLE, 2020), 90, 1).accepted
    assert not verify(undated, cand(TITLE + " revisited", 2020), 90, 1).accepted


def test_429_is_retried_and_the_cache_answers_the_second_run(tmp_path: Path) -> None:
    with StandIn([TRUE]) as server:
        server.fail("/works", Fault(429, headers={"Retry-After": "0"}), Fault(503))
        summary, (ref,) = _resolve(tmp_path, server.url, [REF])
        assert len(server.requests) == 3 and summary["requests"] == 1
        summary, (ref,) = _resolve(tmp_path, server.url, [REF])
        assert len(server.requests) == 3 and summary["requests"] == 0  # nothing asked twice
    assert ref.resolved_doi == "10.1234/agj.2020.001"


def test_persistent_failure_is_reported_with_the_url_and_the_reference_kept(tmp_path: Path) -> None:
    with StandIn([TRUE]) as server:
        server.fail("/works", *[Fault(503)] * 3)
        url = server.url
        summary, (ref,) = _resolve(tmp_path, url, [REF])
    assert summary["error"] == 1 and ref.resolution["status"] == "error"
    assert "HTTP 503 after 3 attempts" in ref.resolution["reason"]
    assert f"GET {url}/works?query.bibliographic=" in ref.resolution["reason"]


def test_timeout_then_success(tmp_path: Path) -> None:
    slow = HttpSettings(timeout=0.3, retries=1, backoff=0.01)
    with StandIn([TRUE]) as server:
        server.fail("/works", Fault(200, "{}", delay=1.0))
        with PoliteClient(server.url, slow) as client:
            assert client.get("/works", {"query.bibliographic": TITLE}).json()["message"]["items"]
        server.fail("/works", Fault(200, "{}", delay=1.0), Fault(200, "{}", delay=1.0))
        with PoliteClient(server.url, slow) as client, pytest.raises(RequestFailed, match="ReadTimeout after 2"):
            client.get("/works")


def test_malformed_json_is_an_error_and_not_cached(tmp_path: Path) -> None:
    with StandIn([TRUE]) as server:
        server.fail("/works", Fault(200, '{"message": {"items": [truncated'))
        _, (ref,) = _resolve(tmp_path, server.url, [REF])
        assert ref.resolution["status"] == "error" and "not a Crossref works list" in ref.resolution["reason"]
        _, (ref,) = _resolve(tmp_path, server.url, [REF])
    assert ref.resolved_doi == "10.1234/agj.2020.001"


def test_rate_limit_headers_set_the_pace() -> None:
    waits: list[float] = []
    with StandIn([TRUE]) as server, PoliteClient(server.url, FAST, sleep=waits.append) as client:
        client.get("/works")
        assert client.min_interval == pytest.approx(1 / 50)
        client.get("/works")
    assert waits and 0 < waits[0] <= 1 / 50


def test_printed_dois_are_not_queried_unless_asked(tmp_path: Path) -> None:
    printed = Reference("B2", title=TITLE, year=2020, doi="10.1234/agj.2020.001")
    with StandIn([TRUE]) as server:
        summary, _ = _resolve(tmp_path, server.url, [printed])
        assert summary["printed"] == 1 and not server.requests
        summary, _ = _resolve(tmp_path, server.url, [printed], include_printed=True)
    assert summary["accuracy"]["precision"] == 1.0 and summary["accuracy"]["recall"] == 1.0


def test_doi_syntax() -> None:
    assert normalize_doi("https://doi.org/10.1016/S0140-6736(20)30183-5.") == "10.1016/s0140-6736(20)30183-5"
    assert normalize_doi("doi: 10.1234/ABC.") == "10.1234/abc"
    assert is_valid_doi("10.1371/journal.pone.0000217") and not is_valid_doi("10.12/abc")
    assert not is_valid_doi("doi:10.1234/") and not is_valid_doi("11.1234/abc")
    assert find_dois("see doi:10.1/x, and https://doi.org/10.5555/a.b; then 10.5555/a.b.") == ["10.5555/a.b"]


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/jats is absent")
def test_offline_calibration_on_the_shared_references(tmp_path: Path) -> None:
    refs = [r for path in sorted(SHARED.glob("*.nxml")) for r in parse_file(path).references]
    printed = [r for r in refs if r.doi]
    assert len(refs) == 218 and len(printed) == 68
    assert all(is_valid_doi(r.doi) for r in printed)
    write_records(refs, tmp_path / "refs.jsonl")
    result = calibrate(CalibrateConfig(references=str(tmp_path / "refs.jsonl"), out_dir=str(tmp_path / "cal")))
    accuracy = result["resolver"]["accuracy"]
    assert accuracy["precision"] == 1.0 and accuracy["wrong"] == []
    at = {row["threshold"]: row for row in result["thresholds"]}
    assert at[90.0]["accepted_unprinted"] == 0 and at[50.0]["wrong"] > 0  # a loose threshold lets decoys in
    assert json.loads((tmp_path / "cal" / "thresholds.json").read_text())["thresholds"]
