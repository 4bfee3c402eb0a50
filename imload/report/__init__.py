"""Presentation of a verdict: the console table (``console``), verdict.json (``verdict_json``),
JUnit (``junit``), report.html (``html`` and its parts) and the per-second series
(``timeseries``, ``series_csv``)."""
