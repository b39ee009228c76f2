"""The hexalchemy error tree.

Every error hexalchemy raises derives from :class:`HexalchemyError`; driver errors are
re-raised as the most specific error below, with the driver's exception as ``__cause__``::

    HexalchemyError
    ├── ConfigError                      a bad configuration value
    ├── MappingError                     a domain class and a table do not fit
    ├── InvalidArgumentError             an argument of a call out of range or of the wrong type
    ├── InvalidValueError                a value that cannot be written
    │   ├── InvalidMessageError          an outbox message that cannot be written
    │   └── InvalidAgentDataError        a value an agent store cannot write
    ├── LeaseLostError                   a runner's lease on an agent expired or was taken over
    ├── EntityError                      carries entity_type and entity_id
    │   ├── EntityNotFoundError
    │   ├── DuplicateEntityError
    │   └── VersionConflictError
    ├── TransactionError
    │   ├── NoActiveTransactionError
    │   ├── TransactionUsageError        a transaction used the wrong way
    │   │   └── ReadOnlyTransactionError
    │   ├── CommitError                  the commit failed; the work was rolled back
    │   └── RetryableError               worth re-running the unit of work
    │       ├── SerializationConflictError
    │       ├── DeadlockError
    │       └── DatabaseBusyError
    └── DatabaseError                    any other database failure
        └── ConstraintViolationError     a constraint of the database refused a write
"""

from __future__ import annotations

__all__ = [
    "CommitError",
    "ConfigError",
    "ConstraintViolationError",
    "DatabaseBusyError",
    "DatabaseError",
    "DeadlockError",
    "DuplicateEntityError",
    "EntityError",
    "EntityNotFoundError",
    "HexalchemyError",
    "InvalidAgentDataError",
    "InvalidArgumentError",
    "InvalidMessageError",
    "InvalidValueError",
    "LeaseLostError",
    "MappingError",
    "NoActiveTransactionError",
    "ReadOnlyTransactionError",
    "RetryableError",
    "SerializationConflictError",
    "TransactionError",
    "TransactionUsageError",
    "VersionConflictError",
]


def _type_name(entity_type: type[object]) -> str:
    return getattr(entity_type, "__qualname__", repr(entity_type))


def _shortened(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


class HexalchemyError(Exception):
    """Base class of every error hexalchemy raises."""


class ConfigError(HexalchemyError):
    """A configuration option has a bad value; the message names the option and the value."""

    def __init__(self, option: str, value: object, reason: str) -> None:
        self.option = option
        self.value = value
        self.reason = reason
        super().__init__(f"{option}={value!r}: {reason}")


class MappingError(HexalchemyError):
    """A domain class cannot be mapped to its table; raised when the mapping is built."""

    def __init__(
        self,
        entity_type: type[object],
        reason: str,
        *,
        field: str | None = None,
        column: str | None = None,
    ) -> None:
        self.entity_type = entity_type
        self.field = field
        self.column = column
        self.reason = reason
        where: list[str] = []
        if field is not None:
            where.append(f"field {field!r}")
        if column is not None:
            where.append(f"column {column!r}")
        location = f" ({', '.join(where)})" if where else ""
        super().__init__(f"cannot map {_type_name(entity_type)}{location}: {reason}")


class InvalidArgumentError(HexalchemyError):
    """An argument of a call is out of range or of the wrong type; the message names the argument."""

    def __init__(self, argument: str, value: object, reason: str) -> None:
        self.argument = argument
        self.value = value
        self.reason = reason
        super().__init__(f"{argument}={_shortened(value)}: {reason}")


class InvalidValueError(HexalchemyError):
    """A value cannot be written (for example a naive datetime); nothing was written.

    ``entity_type`` is the aggregate class the value belongs to; it is None for the values
    of the library's own stores (:class:`InvalidMessageError`, :class:`InvalidAgentDataError`).
    ``field`` is the dotted path of the field (``ship_to.street``, ``lines[0].sku`` inside a
    JSON column), ``value`` the value refused and ``reason`` the rule it breaks; the message
    shows the value's ``repr`` shortened to about 80 characters.
    """

    def __init__(self, entity_type: type[object] | None, field: str, value: object, reason: str) -> None:
        self.entity_type = entity_type
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(self._describe())

    def _describe(self) -> str:
        if self.entity_type is None:
            return f"{self.field}={_shortened(self.value)}: {self.reason}"
        return f"{_type_name(self.entity_type)}.{self.field}={_shortened(self.value)}: {self.reason}"


class InvalidMessageError(InvalidValueError):
    """A message is not valid (blank topic, oversized payload, bad headers...); nothing was written."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(None, field, value, reason)

    def _describe(self) -> str:
        return f"invalid outbox message: {self.field}={_shortened(self.value)}: {self.reason}"


class InvalidAgentDataError(InvalidValueError):
    """A value given to an agent store is not valid (blank id, unknown kind...); nothing was written."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(None, field, value, reason)

    def _describe(self) -> str:
        return f"invalid agent data: {self.field}={_shortened(self.value)}: {self.reason}"


class LeaseLostError(HexalchemyError):
    """The runner's lease on an agent expired or was taken over; the write was refused."""

    def __init__(self, agent_id: str, runner: str, reason: str) -> None:
        self.agent_id = agent_id
        self.runner = runner
        self.reason = reason
        super().__init__(f"runner {runner!r} lost its lease on agent {agent_id!r}: {reason}")


class EntityError(HexalchemyError):
    """An error about one entity, named by its type and id."""

    def __init__(self, entity_type: type[object], entity_id: object, message: str) -> None:
        self.entity_type = entity_type
        self.entity_id = entity_id
        super().__init__(f"{_type_name(entity_type)} {entity_id!r}: {message}")


class EntityNotFoundError(EntityError):
    """No entity with this id exists."""

    def __init__(self, entity_type: type[object], entity_id: object) -> None:
        super().__init__(entity_type, entity_id, "not found")


class DuplicateEntityError(EntityError):
    """An entity with this id already exists, so it cannot be inserted again."""

    def __init__(self, entity_type: type[object], entity_id: object) -> None:
        super().__init__(entity_type, entity_id, "already exists")


class VersionConflictError(EntityError):
    """The entity was changed by someone else since it was loaded (optimistic locking).

    ``expected_version`` is the version the caller loaded; ``actual_version`` is the
    version found in the store, when it was read (``None`` when unknown).
    """

    def __init__(
        self,
        entity_type: type[object],
        entity_id: object,
        expected_version: int,
        actual_version: int | None = None,
    ) -> None:
        self.expected_version = expected_version
        self.actual_version = actual_version
        found = "" if actual_version is None else f", found version {actual_version}"
        super().__init__(
            entity_type,
            entity_id,
            f"version conflict: expected version {expected_version}{found}",
        )


class TransactionError(HexalchemyError):
    """Base class of errors about transactions."""


class NoActiveTransactionError(TransactionError):
    """A repository was used outside a transaction of its transaction manager."""


class TransactionUsageError(TransactionError):
    """A transaction was used the wrong way (for example from another thread or task)."""


class ReadOnlyTransactionError(TransactionUsageError):
    """A write was attempted inside a read-only transaction."""


class CommitError(TransactionError):
    """The commit failed; hexalchemy rolled the transaction back.

    Nothing of it remains when the database refused the commit. When the connection broke
    during the commit, the database may have committed before the acknowledgement was
    lost: make the unit of work safe to re-run (a version check, an idempotency key)
    rather than assume either outcome.
    """


class RetryableError(TransactionError):
    """A transient failure: re-running the whole unit of work may succeed."""


class SerializationConflictError(RetryableError):
    """The database could not serialize this transaction with a concurrent one."""


class DeadlockError(RetryableError):
    """The database broke a deadlock by aborting this transaction."""


class DatabaseBusyError(RetryableError):
    """The database was locked by another writer for longer than the busy timeout."""


class DatabaseError(HexalchemyError):
    """Any other failure reported by the database or its driver (see ``__cause__``)."""


class ConstraintViolationError(DatabaseError):
    """A constraint of the database (unique, foreign key, check, not null) refused a write."""
