"""The repository logic shared by the sync and async SQL repositories, as sans-I/O plans.

Statements are built once per repository, for its dialect; each public operation is a
generator that yields :class:`~hexalchemy.sqlalchemy._operations.Call` steps and returns
its result, so the two repositories differ only in how they drive it.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final, Generic, TypeVar, cast

from sqlalchemy import (
    JSON,
    Column,
    Select,
    Uuid,
    and_,
    any_,
    bindparam,
    delete,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from hexalchemy.ports import (
    ConfigError,
    ConstraintViolationError,
    DuplicateEntityError,
    EntityNotFoundError,
    InvalidValueError,
    VersionConflictError,
)
from hexalchemy.rules import check_instance, check_items, check_list, check_positive_int
from hexalchemy.rules.arguments import MAX_BIGINT
from hexalchemy.sqlalchemy._codegen import compile_function
from hexalchemy.sqlalchemy._operations import Call, CopyRows, DriverExecuteMany, DriverQuery, Plan
from hexalchemy.sqlalchemy._precompiled import use_driver
from hexalchemy.sqlalchemy._value_limits import refuse_unstorable_values
from hexalchemy.sqlalchemy.mapping import TableMapping
from hexalchemy.sqlalchemy.transaction import TransactionCore, TransactionState
from hexalchemy.sqlalchemy.types import ExactDecimal

__all__ = ["DEFAULT_COPY_THRESHOLD", "RepositoryCore"]

T = TypeVar("T")
K = TypeVar("K")

DEFAULT_COPY_THRESHOLD: Final = 64
_SQLITE_MAX_VARIABLES: Final = 32_000
_EXPECTED_VERSION: Final = "hx_expected_version"


def _key_param(index: int) -> str:
    return f"hx_key_{index}"


class RepositoryCore(Generic[T, K]):
    """Statements and plans for one mapped aggregate on one dialect."""

    def __init__(
        self, mapping: TableMapping[T, K], transactions: TransactionCore, copy_threshold: int | None
    ) -> None:
        if copy_threshold is not None:
            copy_threshold = check_positive_int(
                "copy_threshold", copy_threshold, maximum=MAX_BIGINT, error=ConfigError
            )
        self.mapping = mapping
        self.spec = mapping.spec
        self.entity_type = mapping.spec.cls
        self.transactions = transactions
        dialect = transactions.dialect_name
        self.dialect = dialect
        refuse_unstorable_values(mapping, dialect)
        table = mapping.table
        keys = mapping.key_columns
        self.key_keys = tuple(column.key for column in keys)
        self.key_index = mapping.columns.index(keys[0])
        version = mapping.version_column
        self.version_key = version.key if version is not None else None
        by_key = and_(*[column == bindparam(_key_param(i)) for i, column in enumerate(keys)])
        self.get_statement = select(*mapping.columns).where(by_key)
        self.contains_statement: Select[Any] = select(literal_column("1")).select_from(table).where(by_key)
        if len(keys) == 1 and dialect == "postgresql" and not isinstance(keys[0].type, TypeDecorator):
            array = postgresql.ARRAY(keys[0].type)
            self.range_statement = select(*mapping.columns).where(
                keys[0] == any_(bindparam("hx_keys", type_=array))
            )
            self.range_uses_array = True
        else:
            target = keys[0] if len(keys) == 1 else tuple_(*keys)
            self.range_statement = select(*mapping.columns).where(
                target.in_(bindparam("hx_keys", expanding=True))
            )
            self.range_uses_array = False
        self.range_chunk = _SQLITE_MAX_VARIABLES // len(keys) if dialect == "sqlite" else 1_000_000
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        key_names = [column.name for column in keys]
        # RETURNING counts the inserted rows: psycopg reports no rowcount for INSERT.
        self.insert_statement = (
            insert(table).on_conflict_do_nothing(index_elements=key_names).returning(keys[0])
        )
        upsert = insert(table)
        others = [column for column in mapping.columns if column.key not in self.key_keys]
        self.upsert_statement = (
            upsert.on_conflict_do_update(
                index_elements=key_names, set_={column.key: upsert.excluded[column.key] for column in others}
            )
            if others
            else upsert.on_conflict_do_nothing(index_elements=key_names)
        )
        where = [by_key]
        if version is not None:
            where.append(version == bindparam(_EXPECTED_VERSION))
        self.update_statement = update(table).where(*where)
        self.delete_statement = delete(table).where(*where)
        lookup_target = keys[0] if len(keys) == 1 else tuple_(*keys)
        lookup_columns: list[Column[Any]] = [*keys, *([version] if version is not None else [])]
        self.lookup_statement = select(*lookup_columns).where(
            lookup_target.in_(bindparam("hx_keys", expanding=True))
        )
        self.copy_threshold = copy_threshold if dialect == "postgresql" else None
        self._prepare_driver_reads()
        quoted = ", ".join(f'"{column.name}"' for column in mapping.columns)
        schema = f'"{table.schema}".' if table.schema else ""
        self.copy_sql = f'COPY {schema}"{table.name}" ({quoted}) FROM STDIN'

    def _prepare_driver_reads(self) -> None:
        """On psycopg, pre-compile the hot reads to run on the driver cursor directly.

        Rows come back as the driver gives them; the columns' result processors (for
        example :class:`~hexalchemy.sqlalchemy.UtcDateTime`) are applied by a generated
        function before ``from_row``.
        """
        dialect = self.transactions.dialect
        self.driver_reads = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self.range_sql: str | None = None
        self.update_sql: str | None = None
        if not self.driver_reads:
            return
        key_names = [_key_param(index) for index in range(len(self.key_keys))]
        self.get_sql = _positional(str(self.get_statement.compile(dialect=dialect)), key_names)
        self.contains_sql = _positional(str(self.contains_statement.compile(dialect=dialect)), key_names)
        if self.range_uses_array:
            self.range_sql = _positional(str(self.range_statement.compile(dialect=dialect)), ["hx_keys"])
        key_types = [column.type for column in self.mapping.key_columns]
        self.key_processors = [key_type.bind_processor(dialect) for key_type in key_types]
        self.from_driver_row: Any = None  # built from the first result's column type codes
        self._prepare_driver_writes()

    def _prepare_driver_writes(self) -> None:
        """Pre-compile the version-checked UPDATE and generate its positional parameter rows."""
        mapping = self.mapping
        dialect = self.transactions.dialect
        if mapping.version_column is None:
            return
        set_indexes = [i for i, column in enumerate(mapping.columns) if column.key not in self.key_keys]
        key_indexes = [mapping.columns.index(column) for column in mapping.key_columns]
        version_index = mapping.columns.index(mapping.version_column)
        statement = (
            update(mapping.table)
            .where(
                *[column == bindparam(_key_param(i)) for i, column in enumerate(mapping.key_columns)],
                mapping.version_column == bindparam(_EXPECTED_VERSION),
            )
            .values({mapping.columns[i]: bindparam(f"hx_set_{i}") for i in set_indexes})
        )
        names = [f"hx_set_{i}" for i in set_indexes] + [_key_param(i) for i in range(len(key_indexes))]
        self.update_sql = _positional(str(statement.compile(dialect=dialect)), [*names, _EXPECTED_VERSION])
        processors = self._driver_bind_processors()
        namespace: dict[str, Any] = {"to_values": mapping.to_values}
        values = []
        for index in [*set_indexes, *key_indexes]:
            if index == version_index:
                values.append("e + 1")
            elif processors[index] is None:
                values.append(f"v[{index}]")
            else:
                namespace[f"p{index}"] = processors[index]
                values.append(f"(None if v[{index}] is None else p{index}(v[{index}]))")
        source = f"def update_row(o, e):\n    v = to_values(o)\n    return ({', '.join(values)}, e)\n"
        self.update_row: Any = compile_function(
            "update_row", source, namespace, f"{self.entity_type.__qualname__}.update_row"
        )

    def _driver_bind_processors(self) -> list[Any]:
        """Per column: what turns a mapped value into what psycopg should receive (None: as is)."""
        dialect = self.transactions.dialect
        # psycopg would send a Python list as a PostgreSQL array: JSON goes as text.
        return [
            _json_text
            if isinstance(column.type, JSON)
            else column.type.dialect_impl(dialect).bind_processor(dialect)
            for column in self.mapping.columns
        ]

    def _build_driver_converter(self, type_codes: Sequence[Any]) -> Any:
        """Generate ``row -> aggregate`` applying each column's result processor.

        The processors are asked with the driver's type codes, as SQLAlchemy itself does:
        without them, NUMERIC would be read through a float.
        """
        dialect = self.transactions.dialect
        namespace: dict[str, Any] = {"from_row": self.mapping.from_row}
        values = []
        for index, (column, type_code) in enumerate(zip(self.mapping.columns, type_codes, strict=True)):
            # psycopg already returns NUMERIC as Decimal: ExactDecimal has nothing to do there.
            exact = isinstance(column.type, ExactDecimal)
            processor = (
                None if exact else column.type.dialect_impl(dialect).result_processor(dialect, type_code)
            )
            if processor is None:
                values.append(f"r[{index}]")
            else:
                namespace[f"p{index}"] = processor
                values.append(f"p{index}(r[{index}])")
        source = f"def from_driver_row(r):\n    return from_row(({', '.join(values)},))\n"
        return compile_function(
            "from_driver_row", source, namespace, f"{self.entity_type.__qualname__}.from_driver_row"
        )

    def _driver_rows(self, state: TransactionState, sql: str, parameters: Sequence[Any]) -> Plan[list[Any]]:
        """Rows of a pre-compiled read of the mapped columns; builds the converter on first use."""
        if self.from_driver_row is None:
            rows, type_codes = yield DriverQuery(state, sql, parameters, describe=True)
            self.from_driver_row = self._build_driver_converter(type_codes)
        else:
            rows = yield DriverQuery(state, sql, parameters)
        result: list[Any] = rows
        return result

    def _use_driver(self, state: TransactionState) -> bool:
        """Whether the pre-compiled statements may run on the psycopg cursor now (see :func:`use_driver`)."""
        return self.driver_reads and use_driver(state)

    def _driver_key_params(self, key: K) -> tuple[Any, ...]:
        values = self.spec.key_values(key)
        if not any(self.key_processors):
            return values
        return tuple(
            value if processor is None else processor(value)
            for value, processor in zip(values, self.key_processors, strict=True)
        )

    # ----------------------------------------------------------------------------- helpers
    def _key_params(self, key: K) -> dict[str, Any]:
        return {_key_param(i): value for i, value in enumerate(self.spec.key_values(key))}

    def _update_params(self, aggregate: T, expected: int) -> dict[str, Any]:
        params = self.mapping.to_row(aggregate)
        for index, key in enumerate(self.key_keys):
            params[_key_param(index)] = params.pop(key)
        if self.version_key is not None:
            params[_EXPECTED_VERSION] = expected
            params[self.version_key] = expected + 1
        return params

    def _refuse_pending_events(self, aggregate: T) -> None:
        if self.spec.events_field is not None and getattr(aggregate, self.spec.events_field):
            raise InvalidValueError(
                self.entity_type,
                self.spec.events_field,
                getattr(aggregate, self.spec.events_field),
                "the aggregate carries pending events that this repository would drop; "
                "save it through hexalchemy.outbox.EventRecordingRepository",
            )

    def _version_of(self, aggregate: T) -> int:
        version = self.spec.version_of(aggregate)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise InvalidValueError(
                self.entity_type,
                self.spec.version_field or "version",
                version,
                "a version must be an int >= 0",
            )
        return version

    def _check_distinct(self, aggregates: Sequence[T], *, checked: bool = False) -> list[K]:
        """The keys of ``aggregates`` (checked by the key rules first when ``checked``); refuse a key twice."""
        keys = [self.spec.key_of(aggregate) for aggregate in aggregates]
        if checked:
            keys = self.mapping.check_keys(keys)
        if len(set(keys)) != len(keys):
            seen: set[K] = set()
            for key in keys:
                if key in seen:
                    raise InvalidValueError(self.entity_type, "key", key, "appears twice in one batch")
                seen.add(key)
        return keys

    def _lookup(self, state: TransactionState, keys: Sequence[K]) -> Plan[dict[Any, int | None]]:
        """Read the stored version of each key that exists (None when unversioned)."""
        width = len(self.key_keys)
        found: dict[Any, int | None] = {}
        for start in range(0, len(keys), self.range_chunk):
            chunk = [
                self.spec.key_values(key) if width > 1 else key
                for key in keys[start : start + self.range_chunk]
            ]
            result = yield Call(state.connection.execute, (self.lookup_statement, {"hx_keys": chunk}))
            for row in result.all():
                key = tuple(row[:width]) if width > 1 else row[0]
                found[key] = row[width] if self.version_key is not None else None
        return found

    def _conflict(self, key: K, expected: int, stored: dict[Any, int | None]) -> Exception:
        if key not in stored:
            return EntityNotFoundError(self.entity_type, key)
        return VersionConflictError(self.entity_type, key, expected, stored[key])

    # ------------------------------------------------------------------------------- reads
    def get_or_none(self, id: K) -> Plan[T | None]:
        """Plan: the aggregate with this key, or None."""
        state = self.transactions.require(self.entity_type)
        id = self.mapping.check_key(id)
        if self._use_driver(state):
            rows = yield from self._driver_rows(state, self.get_sql, self._driver_key_params(id))
            return self.from_driver_row(rows[0]) if rows else None
        result = yield Call(state.connection.execute, (self.get_statement, self._key_params(id)))
        row = result.first()
        return None if row is None else self.mapping.from_row(row)

    def get(self, id: K) -> Plan[T]:
        """Plan: the aggregate with this key, or EntityNotFoundError."""
        aggregate = yield from self.get_or_none(id)
        if aggregate is None:
            raise EntityNotFoundError(self.entity_type, self.mapping.check_key(id))
        return aggregate

    def contains(self, id: K) -> Plan[bool]:
        """Plan: whether the key exists."""
        state = self.transactions.require(self.entity_type)
        id = self.mapping.check_key(id)
        if self._use_driver(state):
            rows = yield DriverQuery(state, self.contains_sql, self._driver_key_params(id))
            return bool(rows)
        result = yield Call(state.connection.execute, (self.contains_statement, self._key_params(id)))
        return result.first() is not None

    def range(self, ids: Iterable[K]) -> Plan[list[T]]:
        """Plan: the aggregates for ``ids``, in their order, missing ones left out."""
        ids = check_list("ids", ids)
        state = self.transactions.require(self.entity_type)
        wanted = self.mapping.check_keys(ids)
        if not wanted:
            return []
        distinct = list(dict.fromkeys(wanted))
        by_key: dict[Any, T] = {}
        composite = self.spec.is_composite
        key_of = self.spec.key_of
        from_row = self.mapping.from_row
        if self.range_sql is not None and self._use_driver(state):
            processor = self.key_processors[0]
            keys = distinct if processor is None else [processor(key) for key in distinct]
            rows = yield from self._driver_rows(state, self.range_sql, (keys,))
            from_driver_row = self.from_driver_row
            if isinstance(self.mapping.key_columns[0].type, Uuid):
                # UUID hashes in Python; its int hashes in C: key the reordering by the int
                # (check_keys made every key a UUID).
                key_index = self.key_index
                by_int = {row[key_index].int: from_driver_row(row) for row in rows}
                uuids = cast(list[uuid.UUID], wanted)
                return [found for key in uuids if (found := by_int.get(key.int)) is not None]
            for row in rows:
                aggregate = from_driver_row(row)
                by_key[key_of(aggregate)] = aggregate
            return [by_key[key] for key in wanted if key in by_key]
        for start in range(0, len(distinct), self.range_chunk):
            chunk: list[Any] = distinct[start : start + self.range_chunk]
            if composite:
                chunk = [self.spec.key_values(key) for key in chunk]
            result = yield Call(state.connection.execute, (self.range_statement, {"hx_keys": chunk}))
            for row in result.all():
                aggregate = from_row(row)
                by_key[key_of(aggregate)] = aggregate
        return [by_key[key] for key in wanted if key in by_key]

    # ------------------------------------------------------------------------------ writes
    def save(self, aggregate: T) -> Plan[T]:
        """Plan: insert (version 0), version-checked update, or upsert (unversioned)."""
        aggregate = check_instance("aggregate", aggregate, self.entity_type)
        state = self.transactions.require(self.entity_type, write=True)
        self._refuse_pending_events(aggregate)
        execute = state.connection.execute
        if self.version_key is None:
            yield Call(execute, (self.upsert_statement, self.mapping.to_row(aggregate)))
            return aggregate
        version = self._version_of(aggregate)
        saved = self.mapping.with_version(aggregate, version + 1)
        key = self.spec.key_of(aggregate)
        if version == 0:
            result = yield Call(execute, (self.insert_statement, self.mapping.to_row(saved)))
            if len(result.all()) != 1:
                raise DuplicateEntityError(self.entity_type, key)
            return saved
        result = yield Call(execute, (self.update_statement, self._update_params(aggregate, version)))
        if result.rowcount != 1:
            stored = yield from self._lookup(state, [key])
            raise self._conflict(key, version, stored)
        return saved

    def save_all(self, aggregates: Iterable[T]) -> Plan[list[T]]:
        """Plan: save many in a constant number of round trips, inside a savepoint.

        Every row is converted (and so checked by the value rules) before the first statement.
        """
        aggregates = check_items("aggregates", aggregates, self.entity_type)
        state = self.transactions.require(self.entity_type, write=True)
        batch = list(aggregates)
        if not batch:
            return []
        if self.spec.events_field is not None:
            for aggregate in batch:
                self._refuse_pending_events(aggregate)
        execute = state.connection.execute
        if self.version_key is None:
            rows = [self.mapping.to_row(aggregate) for aggregate in batch]
            self._check_distinct(batch)
            savepoint = yield Call(state.connection.begin_nested)
            try:
                yield Call(execute, (self.upsert_statement, rows))
            except BaseException:
                yield Call(savepoint.rollback)
                raise
            yield Call(savepoint.commit)
            return batch
        versions = [self._version_of(aggregate) for aggregate in batch]
        saved = [self.mapping.with_version(a, v + 1) for a, v in zip(batch, versions, strict=True)]
        new = [s for s, v in zip(saved, versions, strict=True) if v == 0]
        copy_rows: list[Any] | None = None
        insert_rows: list[Any] = []
        if new:
            if (
                self.copy_threshold is not None
                and len(new) >= self.copy_threshold
                and use_driver(state)  # COPY is not a statement a listener or the log sees
            ):
                copy_row = self._copy_row
                copy_rows = [copy_row(aggregate) for aggregate in new]
            else:
                insert_rows = [self.mapping.to_row(aggregate) for aggregate in new]
        updates = [(a, v) for a, v in zip(batch, versions, strict=True) if v != 0]
        update_rows: list[Any] | None = None
        update_sql = ""
        update_params: list[Any] = []
        if updates:
            if self.update_sql is not None and self._use_driver(state):
                update_sql = self.update_sql
                update_row = self.update_row
                update_rows = [update_row(a, v) for a, v in updates]
            else:
                update_params = [self._update_params(a, v) for a, v in updates]
        keys = self._check_distinct(batch)
        update_keys = [(key, v) for key, v in zip(keys, versions, strict=True) if v != 0]
        savepoint = yield Call(state.connection.begin_nested)
        failure: str | None = None
        try:
            if copy_rows is not None:
                try:
                    yield CopyRows(state.connection, self.copy_sql, copy_rows)
                except ConstraintViolationError:
                    failure = "insert"
            elif insert_rows:
                result = yield Call(execute, (self.insert_statement, insert_rows))
                if len(result.all()) != len(new):
                    failure = "insert"
            if failure is None and updates:
                if update_rows is not None:
                    rowcount = yield DriverExecuteMany(state, update_sql, update_rows)
                else:
                    result = yield Call(execute, (self.update_statement, update_params))
                    rowcount = result.rowcount
                if rowcount != len(updates):
                    failure = "update"
        except BaseException:
            yield Call(savepoint.rollback)
            raise
        if failure is None:
            yield Call(savepoint.commit)
            return saved
        yield Call(savepoint.rollback)
        if failure == "insert":
            new_keys = [self.spec.key_of(aggregate) for aggregate in new]
            stored = yield from self._lookup(state, new_keys)
            duplicate = next((key for key in new_keys if key in stored), new_keys[0])
            raise DuplicateEntityError(self.entity_type, duplicate)
        stored = yield from self._lookup(state, [key for key, _ in update_keys])
        for key, version in update_keys:
            if stored.get(key, -1) != version:
                raise self._conflict(key, version, stored)
        raise VersionConflictError(self.entity_type, *update_keys[0])  # pragma: no cover - raced

    def delete(self, aggregate: T) -> Plan[None]:
        """Plan: delete one aggregate, version-checked."""
        aggregate = check_instance("aggregate", aggregate, self.entity_type)
        state = self.transactions.require(self.entity_type, write=True)
        key = self.mapping.check_key(self.spec.key_of(aggregate))
        params = self._key_params(key)
        version = 0
        if self.version_key is not None:
            version = self._version_of(aggregate)
            params[_EXPECTED_VERSION] = version
        result = yield Call(state.connection.execute, (self.delete_statement, params))
        if result.rowcount != 1:
            stored: dict[Any, int | None] = {}
            if self.version_key is not None:
                stored = yield from self._lookup(state, [key])
            raise self._conflict(key, version, stored)

    def delete_all(self, aggregates: Iterable[T]) -> Plan[None]:
        """Plan: delete many, version-checked, all or nothing, inside a savepoint."""
        aggregates = check_items("aggregates", aggregates, self.entity_type)
        state = self.transactions.require(self.entity_type, write=True)
        batch = list(aggregates)
        if not batch:
            return
        keys = self._check_distinct(batch, checked=True)
        versions = [self._version_of(a) for a in batch] if self.version_key is not None else [0] * len(batch)
        params = []
        for key, version in zip(keys, versions, strict=True):
            row = self._key_params(key)
            if self.version_key is not None:
                row[_EXPECTED_VERSION] = version
            params.append(row)
        savepoint = yield Call(state.connection.begin_nested)
        try:
            result = yield Call(state.connection.execute, (self.delete_statement, params))
        except BaseException:
            yield Call(savepoint.rollback)
            raise
        if result.rowcount == len(batch):
            yield Call(savepoint.commit)
            return
        yield Call(savepoint.rollback)
        stored = yield from self._lookup(state, keys)
        for key, version in zip(keys, versions, strict=True):
            if key not in stored or (self.version_key is not None and stored[key] != version):
                raise self._conflict(key, version, stored)
        raise EntityNotFoundError(self.entity_type, keys[0])  # pragma: no cover - raced

    @functools.cached_property
    def _copy_row(self) -> Any:
        """Generated ``aggregate -> COPY row``, applying the columns' bind processors inline."""
        processors = self._driver_bind_processors()
        namespace: dict[str, Any] = {"to_values": self.mapping.to_values}
        values = []
        for index, processor in enumerate(processors):
            if processor is None:
                values.append(f"v[{index}]")
            else:
                namespace[f"p{index}"] = processor
                values.append(f"(None if v[{index}] is None else p{index}(v[{index}]))")
        source = f"def copy_row(o):\n    v = to_values(o)\n    return ({', '.join(values)},)\n"
        return compile_function("copy_row", source, namespace, f"{self.entity_type.__qualname__}.copy_row")


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _positional(sql: str, names: Sequence[str]) -> str:
    """Turn ``%(name)s`` placeholders into ``%s``, checking each appears once and in the order given."""
    positions = [sql.find(f"%({name})s") for name in names]
    if any(position < 0 for position in positions) or positions != sorted(positions):  # pragma: no cover
        raise AssertionError(f"unexpected placeholders in {sql!r}")
    for name in names:
        if sql.count(f"%({name})s") != 1:  # pragma: no cover
            raise AssertionError(f"placeholder {name} appears more than once in {sql!r}")
        sql = sql.replace(f"%({name})s", "%s")
    return sql
