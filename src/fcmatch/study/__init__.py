"""Comparative judging studies: judges compare two labelers' causal maps of one sentence at a time.

- :mod:`~fcmatch.study.create`: a study's settings, the labelers' maps it compares, inviting judges;
- :mod:`~fcmatch.study.assignment`: each judge's seeded sequence of pairs and recording verdicts;
- :mod:`~fcmatch.study.export`: the study as read_match_study's JudgementData, exports (JSONL, CSV,
  MATCH folder) and the counts of a listing;
- :mod:`~fcmatch.study.results`: live Bradley-Terry scores, reliability and measure alignment;
- :mod:`~fcmatch.study.judges`: per-judge agreement and the labelers' win-rate matrix;
- :mod:`~fcmatch.study.demo`: a tiny three-labeler study on the bundled demo data.

The tables are :mod:`fcmatch.store.study_tables`; the statistics are :mod:`fcmatch.judge`. Every
function takes an open session and leaves the commit to its caller (one command or one web request
is one transaction). The HTTP side is :mod:`fcmatch.web`; the command line is ``fcmatch study``.
"""
