"""``kcap reproduce``: every claim of the paper measured at a chosen scale, with a verdict, in one
report.

The pipeline: ``scales`` (which shipped YAML specs each claim needs at cpu / gpu / paper scale)
-> the sweep engine (runs, idempotent and resumable) -> ``evidence`` (the specs' runs with their
store rows) -> ``claims`` (one measurement per claim part, ``verdict`` rule) -> ``report``
(claims.json, report.md, report.html and figures).
"""
