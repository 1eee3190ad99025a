"""Metacognition study: a validator adapter that says CORRECT/WRONG, exclusive regeneration (EXAR), and the
validate-then-regenerate loop, measured on held-out questions (docs/metacognition.md).

Pipeline (``fcmatch metacog study configs/metacog-demo.yaml``): stage-zero answerer LoRA
(:mod:`.prompts`), labelled predictions at several temperatures (:mod:`.labels`), validator LoRA scored by
the probability of its two label tokens (:mod:`.validator`), EXAR LoRA trained towards the gold answer,
all adapters on one base (:mod:`.adapters`), and the loop against its oracle (:mod:`.loop`).
"""
