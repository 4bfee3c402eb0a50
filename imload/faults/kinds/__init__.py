"""The fault kinds: ``KINDS`` maps a name to its kind (docs/chaos.md's table is made from it).

One module per kind or family of kinds (``toxic.py``: Toxiproxy's toxics; ``down.py``: the
proxy disabled; ``signal.py``: kill and pause; ``rolling_restart.py``). Every module of
this package is imported here and each kind puts itself in ``KINDS`` with ``@register``
(``base.py`` says what a kind is made of). ``KINDS`` is in the order the loop below imports
them (a module's own imports first), the same in every process. A new kind is one class in
one file: a new module here, or one more ``toxic(...)`` or ``signal(...)`` line in its
family's module.
"""

from __future__ import annotations

import importlib
import pkgutil

from imload.faults.kinds.base import KINDS, FaultKind

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["KINDS", "FaultKind"]
