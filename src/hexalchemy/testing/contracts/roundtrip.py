"""The round-trip contract: whatever is saved reads back equal, field for field.

Property-based (Hypothesis) over the values every backend stores exactly (see
:mod:`hexalchemy.testing.contracts.strategies`), plus explicit extreme values. Subclass
:class:`RoundTripContract` (or :class:`AsyncRoundTripContract`) and provide a ``harness``
fixture; see :mod:`hexalchemy.testing.contracts`.

The tests are written once, async, in ``_async/roundtrip.py``; the sync contract is
generated from them into ``_sync/roundtrip.py`` by ``make generate``.
"""

from hexalchemy.testing.contracts._async.roundtrip import EXAMPLES, AsyncRoundTripContract, extreme_accounts
from hexalchemy.testing.contracts._sync.roundtrip import RoundTripContract

__all__ = ["EXAMPLES", "AsyncRoundTripContract", "RoundTripContract", "extreme_accounts"]
