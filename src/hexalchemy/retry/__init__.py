"""Re-run a unit of work when its transaction fails for a transient reason.

A serialization failure, a deadlock or a busy database aborts the *whole* transaction:
the only fix is to run the unit of work again, from ``begin()``, against fresh data.
:func:`run_in_transaction` (and its async twin :func:`run_in_transaction_async`) does
that: it opens a transaction, runs ``work()`` inside it, and when the transaction fails
with one of the errors of the :class:`RetryPolicy` it waits (capped exponential backoff
with full jitter) and runs everything again, up to ``policy.attempts`` times::

    def transfer() -> None:
        source = accounts.get(source_id)
        target = accounts.get(target_id)
        accounts.save_all([source.withdraw(amount), target.deposit(amount)])

    run_in_transaction(transactions, transfer, isolation_level=IsolationLevel.SERIALIZABLE)

``work`` must be safe to run more than once: everything it does outside the database
(sending mail, appending to a list) happens once per attempt.

This is application-layer code: it speaks only to the ports, so it works with the SQL
and the in-memory adapters alike. All decisions (validation, which errors to retry, how
long to wait) live in :class:`RetryPolicy` and ``Attempts`` (``_policy.py``); the async
function is written in ``_async/run.py`` and the sync one generated from it
(``make generate``): they differ only in ``await``.
"""

from hexalchemy.retry._async.run import run_in_transaction_async
from hexalchemy.retry._policy import RetryPolicy
from hexalchemy.retry._sync.run import run_in_transaction

__all__ = ["RetryPolicy", "run_in_transaction", "run_in_transaction_async"]
