"""The sample aggregates the contracts store, and their entity specs.

Map them in your harness exactly as the application maps its own classes (for the SQL
adapters: ``schema.map(ACCOUNTS, table="accounts")`` and so on for every spec in
:data:`SPECS`).

- :class:`Account`: a frozen, versioned aggregate with a UUID key and one field of every
  common kind (str, int, Decimal, Enum, a nested value object, a tuple, an optional aware
  datetime).
- :class:`Membership`: a frozen, unversioned aggregate with a composite key.
- :class:`Draft`: a mutable (not frozen) versioned aggregate, to check that adapters hand
  out copies.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import attrs

from hexalchemy.ports import EntitySpec

__all__ = [
    "ACCOUNTS",
    "DRAFTS",
    "MEMBERSHIPS",
    "SPECS",
    "Account",
    "Draft",
    "Membership",
    "Money",
    "Tier",
    "new_account",
]


class Tier(enum.Enum):
    """The tier of an :class:`Account` (an enum stored by value)."""

    BASIC = "basic"
    GOLD = "gold"
    PLATINUM = "platinum"


@attrs.frozen
class Money:
    """A value object nested in :class:`Account`: an exact amount in a currency."""

    amount: Decimal
    currency: str


@attrs.frozen
class Account:
    """A versioned aggregate with a UUID key."""

    id: uuid.UUID
    owner: str
    points: int
    balance: Money
    credit_limit: Decimal
    tier: Tier
    tags: tuple[str, ...] = ()
    closed_at: dt.datetime | None = None
    version: int = 0


@attrs.frozen
class Membership:
    """An unversioned aggregate with the composite key ``(team, member)``."""

    team: str
    member: int
    role: str


@attrs.define
class Draft:
    """A mutable versioned aggregate: returned objects must be copies, not shared state."""

    id: int
    lines: list[str] = attrs.Factory(list)
    version: int = 0


ACCOUNTS: EntitySpec[Account, uuid.UUID] = EntitySpec(
    Account, key="id", version="version", key_type=uuid.UUID
)
"""The spec of :class:`Account`: key ``id``, version ``version``."""

MEMBERSHIPS: EntitySpec[Membership, tuple[str, int]] = EntitySpec(Membership, key=("team", "member"))
"""The spec of :class:`Membership`: composite key ``(team, member)``, unversioned."""

DRAFTS: EntitySpec[Draft, int] = EntitySpec(Draft, key="id", version="version", key_type=int)
"""The spec of :class:`Draft`: key ``id``, version ``version``."""

SPECS: tuple[
    EntitySpec[Account, uuid.UUID], EntitySpec[Membership, tuple[str, int]], EntitySpec[Draft, int]
] = (
    ACCOUNTS,
    MEMBERSHIPS,
    DRAFTS,
)
"""Every spec a harness must serve from ``repository()``."""


def new_account(
    owner: str = "ann",
    *,
    points: int = 0,
    amount: str = "10.00",
    tier: Tier = Tier.BASIC,
    tags: tuple[str, ...] = (),
    closed_at: dt.datetime | None = None,
) -> Account:
    """Return a new (version 0) :class:`Account` with a fresh random id."""
    return Account(
        id=uuid.uuid4(),
        owner=owner,
        points=points,
        balance=Money(Decimal(amount), "EUR"),
        credit_limit=Decimal("500.00"),
        tier=tier,
        tags=tags,
        closed_at=closed_at,
    )
