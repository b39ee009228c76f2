"""Ports: ``typing.Protocol`` interfaces, the value types they speak, and the error tree.

This package imports only the standard library and attrs: no SQLAlchemy, no cattrs, no I/O.
"""

from hexalchemy.ports.entity import EntitySpec, field_types
from hexalchemy.ports.errors import (
    CommitError,
    ConfigError,
    ConstraintViolationError,
    DatabaseBusyError,
    DatabaseError,
    DeadlockError,
    DuplicateEntityError,
    EntityError,
    EntityNotFoundError,
    HexalchemyError,
    InvalidValueError,
    MappingError,
    NoActiveTransactionError,
    ReadOnlyTransactionError,
    RetryableError,
    SerializationConflictError,
    TransactionError,
    TransactionUsageError,
    VersionConflictError,
)
from hexalchemy.ports.repository import (
    AsyncReader,
    AsyncRepository,
    AsyncWriter,
    Reader,
    Repository,
    Writer,
)
from hexalchemy.ports.transaction import AsyncTransactionManager, IsolationLevel, TransactionManager

__all__ = [
    "AsyncReader",
    "AsyncRepository",
    "AsyncTransactionManager",
    "AsyncWriter",
    "CommitError",
    "ConfigError",
    "ConstraintViolationError",
    "DatabaseBusyError",
    "DatabaseError",
    "DeadlockError",
    "DuplicateEntityError",
    "EntityError",
    "EntityNotFoundError",
    "EntitySpec",
    "HexalchemyError",
    "InvalidValueError",
    "IsolationLevel",
    "MappingError",
    "NoActiveTransactionError",
    "Reader",
    "ReadOnlyTransactionError",
    "Repository",
    "RetryableError",
    "SerializationConflictError",
    "TransactionError",
    "TransactionManager",
    "TransactionUsageError",
    "VersionConflictError",
    "Writer",
    "field_types",
]
