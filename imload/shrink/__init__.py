"""``imload shrink``: the smallest drill that still fails like a failed run (docs/shrink.md).

| module | what |
| --- | --- |
| ``extract.py`` | the run's journal and scenario as a trace plus a fault timeline (pure) |
| ``ddmin.py`` | delta debugging over any list of parts (pure) |
| ``candidate.py`` | a candidate trace + faults: its reductions, rebasing and files (pure) |
| ``search.py`` | the search: one cluster, the tries, the budget, the outputs (I/O) |
"""
