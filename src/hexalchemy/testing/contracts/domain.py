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
- :class:`Specimen`: a versioned aggregate with a field of every type of the value domain
  and column options declared both ways (on attrs fields and in its spec), for the value
  contract.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import attrs

from hexalchemy.ports import ColumnOptions, EntitySpec, JsonValue, column

__all__ = [
    "ACCOUNTS",
    "DRAFTS",
    "MEMBERSHIPS",
    "SPECIMENS",
    "SPECS",
    "Account",
    "Draft",
    "Level",
    "Membership",
    "Money",
    "Part",
    "Place",
    "Shade",
    "Specimen",
    "Tier",
    "new_account",
    "new_specimen",
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
    lines: list[str] = attrs.Factory(list[str])
    version: int = 0


class Shade(enum.Enum):
    """A str enum of :class:`Specimen`."""

    LIGHT = "light"
    DARK = "dark"


class Level(enum.IntEnum):
    """An int enum of :class:`Specimen`."""

    LOW = 1
    HIGH = 2


@attrs.frozen
class Place:
    """A value object nested in :class:`Specimen`: ``street`` is limited in the spec, ``city`` on its field."""

    street: str
    city: str = attrs.field(metadata=column(max_length=20))


@attrs.frozen
class Part:
    """A value object inside a JSON column of :class:`Specimen`."""

    sku: str
    count: int
    weight: float
    cost: Decimal = Decimal("0")


@attrs.frozen
class Specimen:
    """A versioned aggregate with a field of every type of the value domain, and column options."""

    id: uuid.UUID
    label: str
    code: str = attrs.field(metadata=column(max_length=8))
    count: int
    flag: bool
    ratio: float
    amount: Decimal
    price: Decimal = attrs.field(metadata=column(precision=9, scale=2))
    measure: Decimal = attrs.field(metadata=column(allow_non_finite=True))
    day: dt.date
    at: dt.datetime
    shade: Shade
    level: Level
    origin: Place
    destination: Place | None
    parts: tuple[Part, ...]
    notes: dict[str, str]
    comment: str | None
    data: JsonValue = attrs.field(metadata=column(json=True))
    version: int = 0


ACCOUNTS: EntitySpec[Account, uuid.UUID] = EntitySpec(
    Account, key="id", version="version", key_type=uuid.UUID
)
"""The spec of :class:`Account`: key ``id``, version ``version``."""

MEMBERSHIPS = EntitySpec(Membership, key=("team", "member"), key_type=tuple[str, int])
"""The spec of :class:`Membership`: composite key ``(team, member)``, unversioned."""

DRAFTS: EntitySpec[Draft, int] = EntitySpec(Draft, key="id", version="version", key_type=int)
"""The spec of :class:`Draft`: key ``id``, version ``version``."""

SPECIMENS: EntitySpec[Specimen, uuid.UUID] = EntitySpec(
    Specimen,
    key="id",
    version="version",
    key_type=uuid.UUID,
    columns={"origin.street": ColumnOptions(max_length=40)},
)
"""The spec of :class:`Specimen`: key ``id``, version ``version``; ``origin.street`` at most 40 characters."""

SPECS: tuple[
    EntitySpec[Account, uuid.UUID],
    EntitySpec[Membership, tuple[str, int]],
    EntitySpec[Draft, int],
    EntitySpec[Specimen, uuid.UUID],
] = (ACCOUNTS, MEMBERSHIPS, DRAFTS, SPECIMENS)
"""Every spec a harness must serve from ``repository()`` (``for spec in SPECS: schema.map(spec, ...)``)."""


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


def new_specimen() -> Specimen:
    """Return a new (version 0) :class:`Specimen` of plain values, with a fresh random id."""
    return Specimen(
        id=uuid.uuid4(),
        label="label",
        code="code",
        count=1,
        flag=True,
        ratio=0.5,
        amount=Decimal("1.5"),
        price=Decimal("9.99"),
        measure=Decimal("2.25"),
        day=dt.date(2024, 2, 29),
        at=dt.datetime(2024, 2, 29, 12, 30, tzinfo=dt.UTC),
        shade=Shade.LIGHT,
        level=Level.LOW,
        origin=Place("1 Main St", "Springfield"),
        destination=None,
        parts=(Part("BOOK-1", 2, 0.25),),
        notes={"door": "blue"},
        comment=None,
        data={"tags": ["a", "b"], "size": 2},
    )
