"""Decide how to resume an agent after a crash, from its last action boundary.

An agent that performs side effects records an ``action_boundary``
:class:`~hexalchemy.ports.Evidence` entry before and after each action, with a payload::

    {"action": "send-invoice", "phase": "started", "idempotent": false}
    {"action": "send-invoice", "phase": "completed"}

:func:`decide_from_log` (or :func:`decide_from_log_async`) reads the agent's last
``action_boundary`` entry from an evidence log (any
:class:`~hexalchemy.ports.EvidenceReader`), in one read however long the log, and
returns a :class:`Decision`; :func:`decide` does the same from entries already at hand. The
rule, in order:

1. Only entries of ``kind == "action_boundary"`` count; the one with the highest
   ``sequence`` (the LAST boundary) decides. Entries of another agent are refused
   (:class:`~hexalchemy.ports.InvalidAgentDataError`).
2. No boundary at all: ``START`` (no action began; run from the beginning).
3. The last boundary's ``phase`` is ``"completed"``: ``SKIP_COMPLETED`` (that action is
   done; do not run it again, continue after it).
4. Its ``phase`` is ``"started"`` (the action may or may not have taken effect):
   ``RETRY_IDEMPOTENT`` when ``idempotent`` is exactly ``True``, otherwise ``ASK_HUMAN``
   (a missing or non-bool ``idempotent`` counts as not idempotent).
5. Anything else (payload not an object, unknown or missing ``phase``): ``ASK_HUMAN``.

The agent's status is not consulted: call these for resume candidates.
Standard library, attrs, :mod:`hexalchemy.ports` and :mod:`hexalchemy.rules` only. The rule
is in ``_decide.py``; :func:`decide_from_log_async` is written in ``_async/recovery.py`` and
:func:`decide_from_log` generated from it (``make generate``).
"""

from hexalchemy.agents._async.recovery import decide_from_log_async
from hexalchemy.agents._decide import Decision, RecoveryAction, decide
from hexalchemy.agents._sync.recovery import decide_from_log

__all__ = ["Decision", "RecoveryAction", "decide", "decide_from_log", "decide_from_log_async"]
