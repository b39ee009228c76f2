"""The value contract: every adapter accepts and refuses the same values, and reads back the same stored form.

Each rule of the value domain (:mod:`hexalchemy.rules`) is checked at its boundary: the
boundary values are accepted and read back in their stored form (``Decimal('1E+5')`` as
``Decimal('100000')``, datetimes in UTC...), and the first values beyond are refused with
:class:`~hexalchemy.ports.InvalidValueError` naming the entity, the field and the rule,
with nothing written, through ``save`` and through ``save_all`` of a batch large enough for
PostgreSQL's COPY. Keys of the wrong type are refused by every read. A Hypothesis test saves
any value of the domain and reads it back equal, in the form the rules give.

The contract stores :class:`~hexalchemy.testing.contracts.domain.Specimen` (serve
:data:`~hexalchemy.testing.contracts.domain.SPECIMENS`). Subclass :class:`ValueContract` (or
:class:`AsyncValueContract`) and provide a ``harness`` fixture; see
:mod:`hexalchemy.testing.contracts`. The tests are written once, async, in ``_async/values.py``;
the sync contract is generated from them into ``_sync/values.py`` by ``make generate``.
"""

from hexalchemy.testing.contracts._async.values import BATCH, AsyncValueContract
from hexalchemy.testing.contracts._sync.values import ValueContract

__all__ = ["BATCH", "AsyncValueContract", "ValueContract"]
