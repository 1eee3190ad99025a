"""Bundled short-answer questions of the metacognition study (Dolly JSONL, category ``open_qa``).

``train.jsonl`` (318 questions) and ``test.jsonl`` (106) were written for fcmatch: capitals, chemical elements
and symbols, arithmetic, units, science and general knowledge, answers of 1-5 words. The split is by
question (no question is in both files), a quarter of each topic held out.
"""
