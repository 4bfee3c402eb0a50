"""The probe's checks against a protocol-v1 target, by family, and the names every check
module shares.

The checks live in one module per family: ``auth.py`` (tokens, impersonation),
``authz.py`` (other users' conversations, markers and state), ``inputs.py`` (malformed
frames), ``leaks.py`` (headers, ids, error frames) and ``abuse.py`` (slow sockets, slow
readers, big replies, takeover storms); what they share (``Check``, ``Finding``,
``Probe``, the verdicts, the common steps) lives in ``base.py`` and is re-exported here.
``CHECKS`` is those five families, in order; ``catalogue.py`` adds the families that
import this module (a family module imports ``base``, so none of them closes a circle).
"""

from __future__ import annotations

from imload.probe.abuse import ABUSE_CHECKS, MAX_REPLY
from imload.probe.auth import AUTH_CHECKS
from imload.probe.authz import AUTHZ_CHECKS
from imload.probe.base import FAIL, NA, PASS, Check, Finding, Probe, ProbeError
from imload.probe.inputs import INPUT_CHECKS
from imload.probe.leaks import LEAK_CHECKS

__all__ = ["CHECKS", "FAIL", "MAX_REPLY", "NA", "PASS", "Check", "Finding", "Probe",
           "ProbeError"]

CHECKS: tuple[Check, ...] = (*AUTH_CHECKS, *AUTHZ_CHECKS, *INPUT_CHECKS, *LEAK_CHECKS,
                             *ABUSE_CHECKS)
