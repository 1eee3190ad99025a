"""``fcmatch lit resolve``: a verified Crossref DOI for each reference; unresolved ones kept and marked.

    fcmatch lit resolve lit/parsed/references.jsonl --output lit/resolved.jsonl --mailto you@example.org

Each reference gets ``resolution`` = {status, similarity, candidate, reason}: ``resolved`` (``resolved_doi``
set), ``unresolved`` (no candidate passed :func:`fcmatch.literature.crossref.verify`), ``error`` (the request
failed for good; re-running asks again, since failures are not cached), ``skipped`` (nothing to search by) or
``printed`` (the entry prints its DOI and ``--include-printed`` is off). With ``--include-printed`` the
references that print a DOI are resolved too, and the summary measures the resolver against them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from fcmatch.config import save_beside
from fcmatch.data.formats import atomic_write
from fcmatch.literature.client import RequestFailed
from fcmatch.literature.config import CalibrateConfig, ResolveConfig
from fcmatch.literature.crossref import Crossref, ResponseCache, family_agrees, verify
from fcmatch.literature.document import Reference, read_references, write_records

log = logging.getLogger(__name__)
STATUSES = ("resolved", "unresolved", "error", "skipped", "printed")


def resolve_one(ref: Reference, crossref: Crossref, config: ResolveConfig) -> Reference:
    """Fill ``ref.resolved_doi`` and ``ref.resolution`` from Crossref's candidates; returns ``ref``."""
    if ref.doi and not config.include_printed:
        ref.resolution = {"status": "printed"}
        return ref
    if not (ref.title or ref.raw).strip():
        ref.resolution = {"status": "skipped", "reason": "no title or text to search by"}
        return ref
    try:
        candidates = crossref.candidates(ref)
    except RequestFailed as err:
        ref.resolution = {"status": "error", "reason": str(err)}
        return ref
    best: tuple[Any, ...] | None = None
    closest = None
    seen = []
    for cand in candidates:
        verdict = verify(ref, cand, config.min_title_similarity, config.year_tolerance)
        seen.append({"doi": cand.doi, "similarity": round(verdict.similarity, 2), "year_ok": verdict.year_ok,
                     "notice": verdict.notice})
        rank = (verdict.accepted, verdict.similarity, family_agrees(ref, cand) is not False,
                -abs((cand.year or 0) - (ref.year or 0)))
        if closest is None or rank > closest[0]:
            closest = (rank, cand, verdict)
        if verdict.accepted and (best is None or rank > best[0]):
            best = (rank, cand, verdict)
    chosen = best or closest
    ref.resolved_doi = best[1].doi if best else ""
    ref.resolution = {"status": "resolved" if best else "unresolved", "candidates": seen}
    if chosen:
        _, cand, verdict = chosen
        ref.resolution.update({"similarity": round(verdict.similarity, 2), "reason": verdict.reason,
                               "candidate": {"doi": cand.doi, "title": cand.title, "year": cand.year,
                                             "family": cand.family, "score": cand.score},
                               "first_author_agrees": family_agrees(ref, cand)})
    return ref


def accuracy(refs: list[Reference]) -> dict[str, Any]:
    """The resolver against the printed DOIs: of the references that print one and were looked up,
    precision = correct / resolved, recall = correct / all, and the wrong DOIs accepted."""
    judged = [r for r in refs if r.doi and r.resolution.get("status") in ("resolved", "unresolved", "error")]
    resolved = [r for r in judged if r.resolved_doi]
    correct = [r for r in resolved if r.resolved_doi == r.doi]
    return {"with_printed_doi": len(judged), "resolved": len(resolved), "correct": len(correct),
            "precision": len(correct) / len(resolved) if resolved else None,
            "recall": len(correct) / len(judged) if judged else None,
            "wrong": [{"key": r.key, "printed": r.doi, "resolved": r.resolved_doi} for r in resolved if r not in correct]}


def threshold_table(refs: list[Reference], thresholds: list[float]) -> list[dict[str, Any]]:
    """What the resolver would have accepted at each title threshold (year and notice rules unchanged),
    recomputed from the candidates each resolution recorded: a calibration from one run.

    Rows: accepted, correct and wrong among the references that print a DOI, precision, recall over them, and
    ``accepted_unprinted``: acceptances among the references that print none (against a stand-in that holds
    records only for printed DOIs, each of these is a false acceptance)."""
    rows = []
    looked_up = [r for r in refs if isinstance(r.resolution.get("candidates"), list)]
    printed = [r for r in looked_up if r.doi]
    for t in thresholds:
        picks = {id(r): _pick(r, t) for r in looked_up}
        accepted = [r for r in printed if picks[id(r)]]
        right = sum(picks[id(r)] == r.doi for r in accepted)
        rows.append({"threshold": t, "accepted": len(accepted), "correct": right, "wrong": len(accepted) - right,
                     "precision": right / len(accepted) if accepted else None,
                     "recall": right / len(printed) if printed else None,
                     "accepted_unprinted": sum(bool(picks[id(r)]) for r in looked_up if not r.doi)})
    return rows


def _pick(ref: Reference, threshold: float) -> str:
    ok = [c for c in ref.resolution["candidates"] if c["year_ok"] and not c["notice"] and c["similarity"] >= threshold]
    return max(ok, key=lambda c: c["similarity"])["doi"] if ok else ""


def resolve_references(config: ResolveConfig) -> dict[str, Any]:
    """Run ``fcmatch lit resolve``.

    Returns:
        Counts per status, requests sent (the rest came from the cache) and, with ``--include-printed``,
        :func:`accuracy`.

    Raises:
        FileNotFoundError: no references file.
    """
    if not Path(config.references).is_file():
        raise FileNotFoundError(f"{config.references}: no such references file")
    refs = read_references(config.references)
    cache_path = Path(config.cache) if config.cache else Path(config.output).with_name("crossref-cache.sqlite")
    crossref = Crossref(config.crossref_url, config.mailto, ResponseCache(cache_path), config.http, config.rows)
    try:
        for ref in tqdm(refs, desc="resolve", unit="ref", disable=not config.progress):
            resolve_one(ref, crossref, config)
    finally:
        crossref.close()
    write_records(refs, config.output)
    save_beside(config, config.output)
    summary: dict[str, Any] = {s: sum(r.resolution.get("status") == s for r in refs) for s in STATUSES}
    summary.update({"references": len(refs), "requests": crossref.requests, "cache": str(cache_path)})
    if config.include_printed:
        summary["accuracy"] = accuracy(refs)
    return summary


def calibrate(config: CalibrateConfig) -> dict[str, Any]:
    """Run ``fcmatch lit calibrate``: serve Crossref records built from the printed DOIs (and decoys,
    :func:`fcmatch.literature.standin.works_from_references`) on 127.0.0.1, resolve every reference against
    them with the printed DOIs hidden from the resolver, and tabulate precision and recall per threshold.

    This measures the verification rules, not Crossref's search: the stand-in ranks candidates crudely and
    holds only the records built here. The real measurement needs ``lit resolve --include-printed`` against
    api.crossref.org.

    Returns:
        The resolver's summary at the configured threshold and the threshold table (also in thresholds.json).
    """
    from fcmatch.literature.standin import StandIn, works_from_references

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    refs = read_references(config.references)
    cache = out / "crossref-cache.sqlite"
    cache.unlink(missing_ok=True)  # the stand-in's answers are not Crossref's: never reuse them
    with StandIn(works_from_references(refs, config.drop_every)) as standin:
        summary = resolve_references(ResolveConfig(
            references=config.references, output=str(out / "resolved.jsonl"), crossref_url=standin.url,
            cache=str(cache), min_title_similarity=config.min_title_similarity,
            year_tolerance=config.year_tolerance, include_printed=True, progress=False))
    table = threshold_table(read_references(out / "resolved.jsonl"), list(config.thresholds))
    result = {"resolver": summary, "thresholds": table}
    with atomic_write(out / "thresholds.json") as handle:
        json.dump(result, handle, indent=1)
    save_beside(config, out)
    return result
