"""Which surface forms are one concept: normalisation, codebook snapping, then agglomerative clustering.

1. Forms equal after :func:`fcmatch.data.causal_map.normalize_concept` are one form.
2. With a codebook (e.g. the training split's concepts, :class:`fcmatch.extract.codebook.Codebook`), a form
   whose MiniLM cosine to its nearest codebook concept is >= ``codebook_threshold`` joins that concept's
   cluster and takes its name. Unlike per-sentence snapping this is many-to-one on purpose: merging across
   sentences is the point of a corpus map.
3. The remaining forms are clustered by average-linkage agglomerative clustering on cosine distance, cut at
   ``1 - threshold`` (scipy). Average linkage is the default because the alternative, connected components
   of the "cosine >= threshold" graph (exactly single linkage, ``--linkage single``), chains: "income" ~
   "household income" ~ "household size" merge into one node though the ends are unrelated. Average linkage
   merges two clusters only when their forms are close on average; ``complete`` is stricter still.
4. A merge table (:func:`write_merge_table`) lets a person split, merge and rename clusters; fed back with
   ``fcm build --merges``, its assignments win and only forms it does not list are clustered automatically.

The canonical name of a cluster is its codebook concept, else its most frequent surface form (ties: the
shortest, then alphabetical).
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fcmatch.data.causal_map import normalize_concept
from fcmatch.data.formats import FormatError, atomic_write
from fcmatch.fcm.corpus import CorpusMap

LINKAGES = ("average", "complete", "single")
FORM_SEPARATOR = " | "
TABLE_COLUMNS = ("cluster_id", "canonical_name", "surface_forms", "count")

Embedder = Callable[[list[str]], np.ndarray]


@dataclass
class Cluster:
    """A concept cluster: id, canonical name and surface forms with counts."""

    id: str
    name: str
    forms: dict[str, int]


def default_embedder(encoder: str | os.PathLike | None) -> Embedder:
    """MiniLM (or the encoder folder ``encoder``) through :func:`fcmatch.evaluate.encoder.embed`."""
    from fcmatch.evaluate.encoder import embed

    return lambda texts: embed(texts, encoder)


def _canonical(forms: Counter) -> str:
    return min(forms, key=lambda f: (-forms[f], len(f), f))


def _agglomerate(keys: list[str], embedder: Embedder, threshold: float, linkage: str) -> list[int]:
    """Cluster labels (0-based) of ``keys`` (normalised forms)."""
    if len(keys) <= 1:
        return [0] * len(keys)
    from scipy.cluster.hierarchy import fcluster
    from scipy.cluster.hierarchy import linkage as scipy_linkage
    from scipy.spatial.distance import pdist

    vectors = np.asarray(embedder(keys), dtype=np.float64)
    distances = np.clip(pdist(vectors, metric="cosine"), 0.0, 2.0)
    tree = scipy_linkage(distances, method=linkage)
    return [int(x) - 1 for x in fcluster(tree, t=1.0 - threshold, criterion="distance")]


def cluster_forms(
    forms: Counter,
    threshold: float = 0.8,
    linkage: str = "average",
    codebook: Sequence[str] = (),
    codebook_threshold: float = 0.85,
    fixed: dict[str, tuple[str, str]] | None = None,
    embedder: Embedder | None = None,
    encoder: str | os.PathLike | None = None,
) -> list[Cluster]:
    """Group surface forms into concept clusters.

    Args:
        forms: surface form -> how often it occurs (display forms; normalised here).
        threshold: minimum cosine similarity (in [0, 1]) at which clusters merge; 1 = normalisation only.
        linkage: ``average`` (default), ``complete`` or ``single`` (= threshold-graph components).
        codebook: canonical concept names that forms snap to first.
        codebook_threshold: minimum cosine for a form to join a codebook concept.
        fixed: normalised form -> (cluster id, name) from a reviewed merge table; these are not clustered.
        embedder: texts -> unit vectors (rows); default MiniLM via :func:`fcmatch.evaluate.encoder.embed`.
        encoder: the encoder folder for the default embedder.

    Returns:
        Clusters, most frequent first; ids are ``c1, c2, ...`` except for clusters from ``fixed``,
        which keep theirs.

    Raises:
        ValueError: a threshold outside [0, 1] or an unknown linkage.
    """
    if not 0.0 <= threshold <= 1.0 or not 0.0 <= codebook_threshold <= 1.0:
        raise ValueError(f"thresholds must be in [0, 1], got {threshold} and {codebook_threshold}")
    if linkage not in LINKAGES:
        raise ValueError(f"unknown linkage {linkage!r}; choose one of {', '.join(LINKAGES)}")
    embedder = embedder or default_embedder(encoder)
    fixed = fixed or {}
    by_key: dict[str, Counter] = {}
    for form, n in forms.items():
        by_key.setdefault(normalize_concept(form), Counter())[form] += n
    groups: dict[tuple[str, str], Counter] = {}  # (kind, label) -> forms
    names: dict[tuple[str, str], str] = {}
    todo = []
    for key, counter in by_key.items():
        if key in fixed:
            label = ("fixed", fixed[key][0])
            groups.setdefault(label, Counter()).update(counter)
            names.setdefault(label, fixed[key][1])
        else:
            todo.append(key)
    book = list(dict.fromkeys(c.strip() for c in codebook if c.strip()))
    if book and todo:
        book_keys = [normalize_concept(c) for c in book]
        sims = np.asarray(embedder(todo), dtype=np.float64) @ np.asarray(embedder(book_keys), dtype=np.float64).T
        left = []
        for i, key in enumerate(todo):
            j = int(np.argmax(sims[i]))
            if key in book_keys or sims[i, j] >= codebook_threshold:
                j = book_keys.index(key) if key in book_keys else j
                label = ("codebook", book_keys[j])
                groups.setdefault(label, Counter()).update(by_key[key])
                names.setdefault(label, book[j])
            else:
                left.append(key)
        todo = left
    for key, label in zip(todo, _agglomerate(todo, embedder, threshold, linkage), strict=True):
        groups.setdefault(("auto", str(label)), Counter()).update(by_key[key])
    ordered = sorted(groups.items(), key=lambda kv: (-sum(kv[1].values()), _canonical(kv[1])))
    taken = {label[1] for label in groups if label[0] == "fixed"}
    out, number = [], 0
    for label, counter in ordered:
        if label[0] == "fixed":
            cid = label[1]
        else:
            number += 1
            while f"c{number}" in taken:
                number += 1
            cid = f"c{number}"
        out.append(Cluster(cid, names.get(label) or _canonical(counter), dict(counter.most_common())))
    return out


def merge_table_text(clusters: Sequence[Cluster]) -> str:
    """The editable merge table as CSV text: one row per cluster, surface forms joined by `` | ``.

    Editing it: rename = change ``canonical_name``; merge = give rows the same ``cluster_id``; split =
    move forms to a new row with a new ``cluster_id``. ``count`` is informative and ignored on reading.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(TABLE_COLUMNS)
    for c in clusters:
        writer.writerow([c.id, c.name, FORM_SEPARATOR.join(c.forms), sum(c.forms.values())])
    return buffer.getvalue()


def write_merge_table(clusters: Sequence[Cluster], path: str | os.PathLike) -> Path:
    """Write :func:`merge_table_text` to ``path`` (atomically); returns the path."""
    with atomic_write(path) as handle:
        handle.write(merge_table_text(clusters))
    return Path(path)


def read_merge_table(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """A reviewed merge table as normalised form -> (cluster id, canonical name).

    Rows sharing a cluster id are one cluster, named by the first non-empty ``canonical_name``.

    Raises:
        FileNotFoundError: no such file.
        FormatError: a missing column, an empty cluster id, or a form listed in two clusters (file:line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such merge table")
    names: dict[str, str] = {}
    out: dict[str, tuple[str, str]] = {}
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in TABLE_COLUMNS[:3] if c not in (reader.fieldnames or [])]
        if missing:
            raise FormatError(f"{path}:1: missing column(s) {missing}; found {reader.fieldnames}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            cid = (row["cluster_id"] or "").strip()
            if not cid:
                raise FormatError(f"{where}: empty cluster_id")
            if (row["canonical_name"] or "").strip():
                names.setdefault(cid, row["canonical_name"].strip())
            for form in (row["surface_forms"] or "").split(FORM_SEPARATOR.strip()):
                key = normalize_concept(form)
                if not key:
                    continue
                if key in out and out[key][0] != cid:
                    raise FormatError(f"{where}: form {form.strip()!r} is already in cluster {out[key][0]!r} "
                                      f"(line {seen[key]}); a form belongs to one cluster")
                out[key], seen[key] = (cid, ""), reader.line_num
    return {key: (cid, names.get(cid) or "") for key, (cid, _) in out.items()}


def corpus_clusters(corpus: CorpusMap) -> list[Cluster]:
    """A built corpus map's concepts as clusters (what ``fcm review`` writes into the merge table)."""
    return [Cluster(c.id, c.name, dict(c.forms)) for c in corpus.concepts.values()]
