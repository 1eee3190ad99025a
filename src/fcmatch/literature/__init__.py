"""Scholarly literature for fcmatch: documents to cited sentences, references to verified DOIs, arXiv search
and download, citation-recommendation training pairs and their evaluation.

The ``fcmatch lit`` commands, in pipeline order (``fcmatch lit COMMAND --help`` lists each one's flags):

- ``parse``: JATS, GROBID TEI and PDF files -> sentences with citation links, references, causal-map JSONL;
- ``resolve``: references -> Crossref DOIs, verified by title and year, cached;
- ``search`` / ``fetch``: arXiv metadata as JSONL, PDFs into a content-addressed cache;
- ``pairs``: cited sentences -> Alpaca records asking for the supporting literature;
- ``evaluate``: DOI accuracy, recall@k, hallucinated DOIs, and a retrieval baseline.
"""

from fcmatch.literature.document import Document, Marker, Reference, Sentence
from fcmatch.literature.parse import parse_documents, parse_file

__all__ = ["Document", "Marker", "Reference", "Sentence", "parse_documents", "parse_file"]
