"""A small demo study for trying the web app without the MATCH data: three "labelers" of the first
sentences of the bundled demo set (``fcmatch/resources/demo/test.jsonl``): the gold maps, a copy that
drops edges and one that flips a sign, written as ``extract``-style JSONL files (labeler = file stem).

``fcmatch study create $(python -c 'from fcmatch.study.demo import write_demo_files; print(*write_demo_files("demo"))')``
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.data.formats import read_jsonl, write_jsonl


def demo_maps(n_sentences: int = 6) -> dict[str, list[CausalMap]]:
    """``{labeler: maps}`` for the first ``n_sentences`` demo sentences that have an edge."""
    path = resources.files("fcmatch.resources.demo") / "test.jsonl"
    gold = [m for m in read_jsonl(Path(str(path))) if m.edges][:n_sentences]
    terse = [CausalMap(m.text, m.edges[:1], "terse") for m in gold]
    flipped = [
        CausalMap(m.text, [Edge(e.cause, e.effect, -e.sign) if k == 0 else e for k, e in enumerate(m.edges)], "flipped")
        for m in gold
    ]
    return {"careful": [CausalMap(m.text, m.edges, "careful") for m in gold], "terse": terse, "flipped": flipped}


def write_demo_files(folder: str | os.PathLike, n_sentences: int = 6) -> list[Path]:
    """Write one ``<labeler>.jsonl`` per demo labeler into ``folder``; returns the paths."""
    out = []
    for labeler, maps in demo_maps(n_sentences).items():
        path = Path(folder) / f"{labeler}.jsonl"
        write_jsonl(maps, path)
        out.append(path)
    return out
