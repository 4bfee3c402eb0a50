"""Every check ``imload probe`` runs, in order: the five families of ``checks.py``, then the
families that import ``checks.py`` for its shared names (so they cannot be part of it
without an import circle). To add a family: import its tuple here and add it to
``CATALOGUE``, one line each.
"""

from __future__ import annotations

from imload.probe.checks import CHECKS, Check
from imload.probe.groups import GROUP_CHECKS
from imload.probe.limits import LIMIT_CHECKS

CATALOGUE: tuple[Check, ...] = (
    *CHECKS,
    *GROUP_CHECKS,
    *LIMIT_CHECKS,
)
