"""The schema registry: one ``MetaData`` holding every mapped table, and the mappings."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from typing import Any, TypeGuard, TypeVar, overload

import cattrs
from sqlalchemy import Engine, FromClause, MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeEngine

from hexalchemy._guards import is_class_of
from hexalchemy.ports import ConfigError, EntitySpec, InvalidArgumentError, MappingError
from hexalchemy.rules import ValueRule, check_callable, check_instance, text_problem
from hexalchemy.sqlalchemy._column_plan import derive_columns
from hexalchemy.sqlalchemy._errors import translate_error
from hexalchemy.sqlalchemy._portable import identifier_limit, table_options
from hexalchemy.sqlalchemy._type_rules import registered_type_rule
from hexalchemy.sqlalchemy.mapping import RowMapping, TableMapping, make_converter

__all__ = ["Schema"]

T = TypeVar("T")
K = TypeVar("K")


class Schema:
    """Builds table mappings, holds their tables in one ``MetaData`` and owns their converter.

    ``schema.map(spec, table="users")`` derives a table from the attrs class;
    ``schema.map(spec, table=users_table)`` maps onto a table you wrote (it must belong to
    ``schema.metadata``: pass ``Schema(metadata=Base.metadata)`` for declarative tables).
    Use ``schema.metadata`` as Alembic's ``target_metadata``.
    """

    def __init__(
        self, *, metadata: MetaData | None = None, converter: cattrs.Converter | None = None
    ) -> None:
        if metadata is not None:
            check_instance("metadata", metadata, MetaData, error=ConfigError)
        if converter is not None:
            check_instance("converter", converter, cattrs.Converter, error=ConfigError)
        self.metadata = metadata if metadata is not None else MetaData()
        self.converter = converter if converter is not None else make_converter()
        self._column_types: dict[Any, TypeEngine[Any]] = {}
        self._mappings: dict[type[object], TableMapping[Any, Any]] = {}

    def register_type(
        self,
        python_type: type[T],
        column_type: TypeEngine[Any],
        *,
        unstructure: Callable[[T], Any] | None = None,
        structure: Callable[[Any], T] | None = None,
    ) -> None:
        """Teach the schema a type of your own: its column type and, optionally, its cattrs hooks.

        ``unstructure`` turns a value into what the column stores; ``structure`` turns it back.
        Without them, the hooks already registered on ``schema.converter`` are used.
        Register types before mapping the classes that use them.
        """
        _check_key("python_type", python_type)
        _check_column_type(column_type)
        for name, hook in (("unstructure", unstructure), ("structure", structure)):
            if hook is not None:
                check_callable(name, hook)
        if unstructure is not None:
            self.converter.register_unstructure_hook(python_type, unstructure)
        if structure is not None:
            convert = structure
            self.converter.register_structure_hook(python_type, lambda value, _: convert(value))
        self._column_types[python_type] = column_type

    @property
    def type_rules(self) -> dict[object, ValueRule]:
        """The rule of every registered type, for the in-memory repository: ``InMemoryRepository(spec, transactions, types=schema.type_rules)``.

        Each refuses what a mapping's ``to_row`` refuses for a field of that type (its hook
        failing, what it unstructures to breaking the rule of the column type it was
        registered with) and gives the value back as the SQL repository reads it back.
        """
        return {
            python_type: registered_type_rule(python_type, column_type, self.converter)
            for python_type, column_type in self._column_types.items()
        }

    # Two overloads (a derived table, a given one) rather than one signature: given a union of
    # specs (a loop over specs of different classes), both checkers then map each member and
    # return the union of their mappings, where one signature would have to infer one T and K.
    @overload
    def map(
        self, spec: EntitySpec[T, K], *, table: str, unmapped: Iterable[str] = ()
    ) -> TableMapping[T, K]: ...

    @overload
    def map(
        self, spec: EntitySpec[T, K], *, table: Table | FromClause, unmapped: Iterable[str] = ()
    ) -> TableMapping[T, K]: ...

    def map(
        self,
        spec: EntitySpec[T, K],
        *,
        table: str | Table | FromClause,
        unmapped: Iterable[str] = (),
    ) -> TableMapping[T, K]:
        """Build the mapping of ``spec``'s class onto a table; raise ``MappingError`` on any mismatch.

        With a name, the table is derived from the class and added to ``metadata``. With a
        ``Table``, it is checked against the class.

        ``unmapped`` names columns of a given ``Table`` that the class does not map, which
        otherwise are a ``MappingError`` unless they have a default: bookkeeping your own
        statements maintain (a lease, a sequence number, a timestamp of a move). ``to_row``
        leaves them out (an ``INSERT`` of its rows gives them their default or NULL, or
        whatever the statement's own ``.values(...)`` says) and ``from_row`` does not read
        them. A primary key column cannot be unmapped.
        """
        check_instance("spec", spec, EntitySpec)
        if isinstance(table, str):
            _check_table_name(spec.cls, table)
        elif _is_table(table):
            _check_table_name(spec.cls, table.name)
        if spec.cls in self._mappings:
            raise MappingError(spec.cls, f"already mapped to table {self._mappings[spec.cls].table.name!r}")
        if isinstance(table, str):
            if unmapped:
                raise MappingError(spec.cls, "unmapped applies to a Table you wrote, not a derived one")
            if table in self.metadata.tables:
                raise MappingError(spec.cls, f"table {table!r} already exists in this schema's metadata")
            columns = derive_columns(spec, self.converter, self._column_types, table)
            mapped_table = Table(table, self.metadata, *columns, **table_options())
            try:
                mapping = TableMapping(
                    spec,
                    mapped_table,
                    converter=self.converter,
                    custom_types=self._column_types,
                    derived=True,
                )
            except BaseException:
                self.metadata.remove(mapped_table)
                raise
        else:
            table = _hand_written_table(spec.cls, table)
            if table.metadata is not self.metadata:
                raise MappingError(
                    spec.cls,
                    f"table {table.name!r} belongs to another MetaData; build the schema with "
                    "Schema(metadata=that_metadata) so one MetaData holds every table",
                )
            mapping = TableMapping(
                spec,
                table,
                converter=self.converter,
                custom_types=self._column_types,
                derived=False,
                unmapped=unmapped,
            )
        self._mappings[spec.cls] = mapping
        return mapping

    def row_mapping(self, cls: type[T]) -> RowMapping[T]:
        """Build a mapping from result rows (by label) to ``cls``, for read models and custom queries."""
        return RowMapping(cls, converter=self.converter, custom_types=self._column_types)

    def mapping_for(self, cls: type[T]) -> TableMapping[T, Any]:
        """Return the mapping built for ``cls``; ``MappingError`` if it was never mapped."""
        _check_key("cls", cls)
        mapping = self._mappings.get(cls)
        if mapping is None:
            raise MappingError(cls, "not mapped by this schema; call schema.map(...) first")
        found: TableMapping[T, Any] = mapping
        return found

    @property
    def mappings(self) -> tuple[TableMapping[Any, Any], ...]:
        """Every mapping built by this schema, in order."""
        return tuple(self._mappings.values())

    def create_all(self, engine: Engine) -> None:
        """Create every table that does not exist yet (with an async engine: :meth:`create_all_async`).

        A database error (unreachable, refused DDL...) is raised as a hexalchemy
        ``DatabaseError`` (its ``__cause__`` the driver's).
        """
        _check_engine(engine, "create_all")
        with _translated():
            self.metadata.create_all(engine)

    def drop_all(self, engine: Engine) -> None:
        """Drop every table of this schema that exists (errors as :meth:`create_all`)."""
        _check_engine(engine, "drop_all")
        with _translated():
            self.metadata.drop_all(engine)

    async def create_all_async(self, engine: AsyncEngine) -> None:
        """Create every table that does not exist yet, through an async engine: ``await schema.create_all_async(engine)``.

        It makes everything :meth:`create_all` makes (tables, indexes, the triggers of the
        agent tables), in one transaction; errors as :meth:`create_all`.
        """
        _check_async_engine(engine, "create_all")
        with _translated():
            async with engine.begin() as connection:
                await connection.run_sync(self.metadata.create_all)

    async def drop_all_async(self, engine: AsyncEngine) -> None:
        """Drop every table of this schema that exists, through an async engine (errors as :meth:`create_all`)."""
        _check_async_engine(engine, "drop_all")
        with _translated():
            async with engine.begin() as connection:
                await connection.run_sync(self.metadata.drop_all)


def _check_engine(engine: object, operation: str) -> None:
    """Refuse what is not a sync engine; name the async call for an async engine."""
    if isinstance(engine, AsyncEngine):
        raise InvalidArgumentError(
            "engine", engine, f"is an AsyncEngine: call `await schema.{operation}_async(engine)` instead"
        )
    check_instance("engine", engine, Engine)


def _check_async_engine(engine: object, operation: str) -> None:
    """Refuse what is not an async engine; name the sync call for a sync engine."""
    if isinstance(engine, Engine):
        raise InvalidArgumentError(
            "engine", engine, f"is a sync Engine: call `schema.{operation}(engine)` instead"
        )
    check_instance("engine", engine, AsyncEngine)


def _hand_written_table(cls: type[object], table: object) -> Table:
    """``table`` if it is a ``Table``; else ``MappingError`` (a select, a join: no table to map)."""
    if _is_table(table):
        return table
    raise MappingError(cls, f"expected a table name or a Table, got {table!r}")


def _is_table(value: object) -> TypeGuard[Table]:
    """``value`` is a ``Table`` (of the usual column collection: ``isinstance`` cannot tell its type argument)."""
    return isinstance(value, Table)


def _check_column_type(column_type: object) -> None:
    """Refuse what is neither a SQLAlchemy column type nor a column type class."""
    if not (isinstance(column_type, TypeEngine) or is_class_of(column_type, TypeEngine)):
        raise InvalidArgumentError("column_type", column_type, "must be a SQLAlchemy column type")


def _check_key(name: str, value: object) -> None:
    """Refuse a class (or type) the schema cannot look up: it must be hashable."""
    try:
        hash(value)
    except TypeError:
        raise InvalidArgumentError(name, value, "must be a class") from None


@contextmanager
def _translated() -> Generator[None, None, None]:
    """Raise the database's errors in the block as hexalchemy errors (see ``_errors.py``)."""
    try:
        yield
    except Exception as error:
        translated = translate_error(error)
        if translated is error:
            raise
        raise translated from error


def _check_table_name(cls: type[object], name: str) -> None:
    """A table name every supported database keeps as written, or ``MappingError``."""
    limit = identifier_limit()
    if not name:
        raise MappingError(cls, "the table name is empty")
    problem = text_problem(name)
    if problem is not None:
        raise MappingError(cls, f"the table name {name!r}: {problem}")
    if len(name.encode()) > limit:
        raise MappingError(
            cls,
            f"the table name {name[:20]!r}... is {len(name.encode())} bytes long: the databases keep "
            f"at most {limit} bytes (PostgreSQL would cut it short)",
        )
