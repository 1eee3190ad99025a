"""``fcmatch lit parse|resolve|search|fetch|pairs|evaluate``: the literature pipeline (fcmatch.literature).

Flags come from :mod:`fcmatch.literature.config`; each action calls one library function and prints its
summary as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json

# action -> (help, config class, library function), both as "module:name" under fcmatch.literature
ACTIONS = {
    "parse": ("JATS, GROBID TEI or PDF files -> cited sentences (with offsets), references, causal-map JSONL",
              "config:ParseConfig", "parse:parse_documents"),
    "resolve": ("references -> Crossref DOIs verified by title and year, cached in SQLite; unresolved ones kept",
                "config:ResolveConfig", "resolve:resolve_references"),
    "calibrate": ("the resolver against the printed DOIs, offline, through a local Crossref stand-in with decoys",
                  "config:CalibrateConfig", "resolve:calibrate"),
    "search": ("arXiv API search -> paper metadata as JSONL (paged, 3 s between calls)",
               "config:SearchConfig", "arxiv:search"),
    "fetch": ("the PDFs of a search file -> a content-addressed cache; re-run to resume",
              "config:FetchConfig", "arxiv:fetch"),
    "pairs": ("cited sentences -> Alpaca records asking for the supporting literature, split by document",
              "config:PairsConfig", "pairs:build_pairs"),
    "evaluate": ("citation answers vs the test pairs: DOI accuracy, recall@k, hallucinated DOIs; retrieval baseline",
                 "config:EvaluateConfig", "evaluate:evaluate_citations"),
}


def _load(ref: str):  # a config class or a library function
    module, name = ref.split(":")
    return getattr(importlib.import_module(f"fcmatch.literature.{module}"), name)


def register(sub: argparse._SubParsersAction) -> None:
    from fcmatch.config import add_arguments

    lit = sub.add_parser("lit", help="scholarly literature: parse papers, resolve DOIs, search and fetch arXiv, "
                                     "make and evaluate citation training pairs")
    cmds = lit.add_subparsers(dest="lit_command", metavar="ACTION", required=True)
    for name, (help_text, config_ref, func_ref) in ACTIONS.items():
        parser = cmds.add_parser(name, help=help_text, description=help_text)
        add_arguments(parser, _load(config_ref))
        parser.set_defaults(func=_run, lit_action=(config_ref, func_ref))


def _run(args: argparse.Namespace) -> int:
    from fcmatch.config import from_args

    config_ref, func_ref = args.lit_action
    summary = _load(func_ref)(from_args(_load(config_ref), args))
    print(json.dumps(summary))
    return 0
