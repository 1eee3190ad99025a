"""From sentence maps to one corpus causal model (a fuzzy cognitive map).

The pipeline, one module each: :mod:`~fcmatch.fcm.corpus` (the corpus map with its evidence),
:mod:`~fcmatch.fcm.merge` (concept clustering and the editable merge table), :mod:`~fcmatch.fcm.build`
(sentence maps -> corpus map), :mod:`~fcmatch.fcm.inference` (FCM updates, steady states, what-if
scenarios), :mod:`~fcmatch.fcm.export` (GraphML, GEXF, JSON, CSV, Mental Modeler, PNG/SVG),
:mod:`~fcmatch.fcm.html` (the interactive view) and :mod:`~fcmatch.fcm.evaluate` (gold vs predicted
corpus maps). Commands: ``fcmatch fcm build|review|scenario|export|evaluate`` (see docs/corpus-maps.md).
"""
