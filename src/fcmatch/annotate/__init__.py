"""Annotation projects: people draw the causal maps of sentences in the web app.

Pure logic (no database): :mod:`~fcmatch.annotate.sentences` (input files),
:mod:`~fcmatch.annotate.assignment` (who does what, with overlap), :mod:`~fcmatch.annotate.annotation`
(the editor's document), :mod:`~fcmatch.annotate.suggestions` (what became of model suggestions),
:mod:`~fcmatch.annotate.agreement` (graph F1, sign kappa), :mod:`~fcmatch.annotate.ordering` (what to
annotate next). On the database (tables in :mod:`fcmatch.store.annotation_tables`):
:mod:`~fcmatch.annotate.project` (create, invite, assign, import, order), :mod:`~fcmatch.annotate.tasks`
(open and save safely) and :mod:`~fcmatch.annotate.results` (exports, agreement, rates, progress).
See docs/annotation.md.
"""
