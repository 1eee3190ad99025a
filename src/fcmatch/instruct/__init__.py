"""The instruction-tuning study: a base or tuned model answers instructions, and the answers are scored.

- :mod:`fcmatch.instruct.generate`: ``fcmatch generate``, one prediction per instruction (prompts from
  :mod:`fcmatch.tasks.instruct`, decoding by :mod:`fcmatch.extract.generation`) into ``pred.jsonl``.
- :mod:`fcmatch.instruct.evaluate`: ``fcmatch score``, text metrics of a ``pred.jsonl`` with bootstrap
  intervals (:func:`fcmatch.evaluate.text_metrics.score_texts`) and a paired test against a base model's.
- :mod:`fcmatch.instruct.config`: the two commands' configs (each field is a flag).
"""
