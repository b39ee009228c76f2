"""The repository logic shared by the sync and async SQL repositories, as sans-I/O plans.

Statements are built once per repository, by its database's backend; each public
operation is a generator that yields :class:`~hexalchemy.sqlalchemy._operations.Call`
steps and returns its result, so the two repositories differ only in how they drive it.
Where the backend has a faster way for the hot operations (a :class:`RepositoryPath`:
PostgreSQL's psycopg cursor and COPY), the plans hand them to it while it is usable.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Generic, Protocol, TypeVar, cast

from sqlalchemy import (
    Column,
    Integer,
    Select,
    Uuid,
    and_,
    bindparam,
    delete,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.types import TypeDecorator

from hexalchemy._codegen import compile_function
from hexalchemy.ports import (
    ConfigError,
    ConstraintViolationError,
    DuplicateEntityError,
    EntityNotFoundError,
    InvalidValueError,
    VersionConflictError,
)
from hexalchemy.rules import check_instance, check_items, check_list, check_positive_int, version_rule
from hexalchemy.rules.arguments import MAX_BIGINT
from hexalchemy.sqlalchemy._operations import Call, Plan
from hexalchemy.sqlalchemy._refusals import bind_refusal
from hexalchemy.sqlalchemy.mapping import ChangedColumns, TableMapping
from hexalchemy.sqlalchemy.transaction import TransactionCore, TransactionState

__all__ = ["DEFAULT_COPY_THRESHOLD", "BulkInsert", "RepositoryCore", "RepositoryPath"]

T = TypeVar("T")
K = TypeVar("K")
T_contra = TypeVar("T_contra", contravariant=True)

DEFAULT_COPY_THRESHOLD: Final = 64
_EXPECTED_VERSION: Final = "hx_expected_version"


def _key_param(index: int) -> str:
    return f"hx_key_{index}"


class BulkInsert(Protocol[T_contra]):
    """A backend's faster way to insert many new aggregates (``Backend.bulk_insert``; a ``RepositoryPath`` is one too)."""

    def copies(self, count: int) -> bool:
        """Whether ``count`` new aggregates go through :meth:`copy`."""
        ...

    def copy_rows(self, aggregates: Sequence[T_contra]) -> list[Any]:
        """The rows :meth:`copy` sends for new aggregates (converted, and so checked, before any statement)."""
        ...

    def copy(self, state: TransactionState, rows: list[Any]) -> Plan[None]:
        """Plan: insert new aggregates' rows in bulk; a duplicate key raises ``ConstraintViolationError``."""
        ...


class RepositoryPath(Protocol[T, K]):
    """A backend's faster way to run a repository's hot operations (``Backend.repository_path``).

    The plans ask :meth:`usable` at each call and fall back to SQLAlchemy when it says
    no; the results are the same either way.
    """

    @property
    def ranges(self) -> bool:
        """Whether :meth:`range` serves this repository."""
        ...

    @property
    def updates(self) -> bool:
        """Whether :meth:`update` serves this repository."""
        ...

    def usable(self, state: TransactionState) -> bool:
        """Whether the path may run in this transaction, now."""
        ...

    def get_or_none(self, state: TransactionState, key: K) -> Plan[T | None]:
        """Plan: the aggregate with this key, or None."""
        ...

    def contains(self, state: TransactionState, key: K) -> Plan[bool]:
        """Plan: whether the key exists."""
        ...

    def range(
        self, state: TransactionState, wanted: list[K], distinct: list[K], loaded: dict[Any, T] | None
    ) -> Plan[list[T]]:
        """Plan: the aggregates of ``wanted`` (``distinct``: each key once), in its order, missing ones left out.

        ``loaded``: where to remember each aggregate read, by ``RepositoryCore.loaded_key`` (None: nowhere).
        """
        ...

    def insert(self, state: TransactionState, aggregate: T) -> Plan[bool]:
        """Plan: insert one new aggregate (``core.insert_statement``), converted first; False for a duplicate key."""
        ...

    def copies(self, count: int) -> bool:
        """Whether ``count`` new aggregates go through :meth:`copy`."""
        ...

    def copy_rows(self, aggregates: Sequence[T]) -> list[Any]:
        """The rows :meth:`copy` sends for new aggregates (converted, and so checked, before any statement)."""
        ...

    def copy(self, state: TransactionState, rows: list[Any]) -> Plan[None]:
        """Plan: insert new aggregates' rows in bulk; a duplicate key raises ``ConstraintViolationError``."""
        ...

    def update_rows(
        self, aggregates: Sequence[T], versions: Sequence[int], changed: ChangedColumns[T] | None
    ) -> list[Any]:
        """The rows :meth:`update` sends for ``aggregates`` expected at ``versions`` (converted first too).

        ``changed``: the columns to set (with the version), or None for every column.
        """
        ...

    def update(
        self, state: TransactionState, rows: list[Any], changed: ChangedColumns[T] | None
    ) -> Plan[int]:
        """Plan: the version-checked updates of :meth:`update_rows`; return how many rows matched."""
        ...


def _zero(_aggregate: object) -> int:
    return 0


def _loaded_key_function(mapping: TableMapping[T, Any], by_int: bool) -> Callable[[T], Any]:
    """``aggregate -> key`` for ``TransactionState.loaded``: a UUID key by its ``int`` when ``by_int`` (generated: one call a row)."""
    if not by_int:
        return mapping.spec.key_of
    (field,) = mapping.spec.key_fields  # an attrs field's name: an identifier
    source = f"def loaded_key(o):\n    k = o.{field}\n    return k.int if type(k) is UUID else k\n"
    function: Callable[[T], Any] = compile_function(
        "loaded_key", source, {"UUID": uuid.UUID}, f"{mapping.spec.cls.__qualname__}.loaded_key"
    )
    return function


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
        self.backend = backend = transactions.backend
        backend.check_mapping(mapping)
        table = mapping.table
        keys = mapping.key_columns
        self.key_keys = tuple(column.key for column in keys)
        self.key_index = mapping.columns.index(keys[0])
        version = mapping.version_column
        self.version_key = version.key if version is not None else None
        self.expected_version_parameter = _EXPECTED_VERSION
        by_key = and_(*[column == bindparam(_key_param(i)) for i, column in enumerate(keys)])
        self.get_statement = select(*mapping.columns).where(by_key)
        self.contains_statement: Select[Any] = (
            select(literal_column("1", Integer)).select_from(table).where(by_key)
        )
        self.range_by_list = len(keys) == 1 and not isinstance(keys[0].type, TypeDecorator)
        """Whether ``range`` binds its keys with ``Backend.one_of`` (one key column, of a plain type)."""
        if self.range_by_list:
            self.range_statement = select(*mapping.columns).where(backend.one_of(keys[0], "hx_keys"))
        else:
            target = keys[0] if len(keys) == 1 else tuple_(*keys)
            self.range_statement = select(*mapping.columns).where(
                target.in_(bindparam("hx_keys", expanding=True))
            )
        self.range_chunk = backend.max_bound_values // len(keys)
        # RETURNING counts the inserted rows: psycopg reports no rowcount for INSERT.
        self.insert_statement = backend.ignore_conflicts(backend.insert(table), keys).returning(keys[0])
        others = [column for column in mapping.columns if column.key not in self.key_keys]
        self.upsert_statement = (
            backend.upsert(
                backend.insert(table),
                keys,
                lambda proposed: {column.key: proposed[column.key] for column in others},
            )
            if others
            else backend.ignore_conflicts(backend.insert(table), keys)
        )
        where = [by_key]
        if version is not None:
            where.append(version == bindparam(_EXPECTED_VERSION))
        self.update_statement = update(table).where(*where)
        self.delete_statement = delete(table).where(*where)
        lookup_target = keys[0] if len(keys) == 1 else tuple_(*keys)
        lookup_columns: list[Column[Any]] = [*keys, *([version] if version is not None else [])]
        # read after a write met a conflict: what the write saw, not the transaction's snapshot
        self.lookup_statement = backend.read_latest(
            select(*lookup_columns).where(lookup_target.in_(bindparam("hx_keys", expanding=True)))
        )
        self.copy_threshold = copy_threshold
        self.changes = mapping.changes
        """``TableMapping.changes``: None when every update sets every column (no aggregate is remembered)."""
        self._get_version: Callable[[T], Any] = (
            operator.attrgetter(self.spec.version_field) if self.spec.version_field is not None else _zero
        )
        self.version_rule = version_rule(self.spec) if self.spec.version_field is not None else None
        """The versions a save or a delete accepts (None when unversioned)."""
        self.loaded_by_int = len(keys) == 1 and isinstance(keys[0].type, Uuid)
        """Whether loaded aggregates are remembered by their UUID key's ``int`` (it hashes in C)."""
        self.loaded_key: Callable[[T], Any] = _loaded_key_function(mapping, self.loaded_by_int)
        """``aggregate -> the key it is remembered by`` in ``TransactionState.loaded``."""
        self.path: RepositoryPath[T, K] | None = backend.repository_path(self)
        """The backend's faster way for the hot operations, or None."""
        self.bulk: BulkInsert[T] | None = backend.bulk_insert(self)
        """The backend's bulk insert when its :attr:`path` is not usable or there is none, or None."""

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

    def _changed_params(self, aggregate: T, expected: int, changed: ChangedColumns[T]) -> dict[str, Any]:
        """The parameters of the update of ``changed`` columns (keys taken as they are: they equal the loaded ones)."""
        keys = self.mapping.column_keys
        params = {
            keys[index]: value
            for index, value in zip(changed.indexes, changed.values(aggregate), strict=True)
        }
        for index, value in enumerate(self.spec.key_values(self.spec.key_of(aggregate))):
            params[_key_param(index)] = value
        if self.version_key is not None:
            params[_EXPECTED_VERSION] = expected
            params[self.version_key] = expected + 1
        return params

    # ------------------------------------------------------------------- loaded aggregates
    def loaded(self, state: TransactionState) -> dict[Any, T] | None:
        """This table's aggregates remembered in ``state`` (made on first use); None when none are kept."""
        if self.changes is None:
            return None
        by_table = state.loaded
        if by_table is None:
            by_table = state.loaded = {}
        loaded = by_table.get(self.mapping.table)
        if loaded is None:
            loaded = by_table[self.mapping.table] = {}
        return loaded

    def _forget(self, state: TransactionState, aggregates: Iterable[T]) -> None:
        """Forget what was remembered of these aggregates' rows (inserted anew or deleted)."""
        by_table = state.loaded
        loaded = None if by_table is None else by_table.get(self.mapping.table)
        if loaded:
            loaded_key = self.loaded_key
            for aggregate in aggregates:
                loaded.pop(loaded_key(aggregate), None)

    def _remember_updated(
        self, state: TransactionState, loaded_keys: list[Any], saved: list[T], versions: list[int]
    ) -> None:
        """Remember the updated aggregates of a batch (``loaded_keys``: theirs) as saved."""
        loaded = self.loaded(state)
        if loaded is None:
            return
        if len(loaded_keys) == len(saved):
            loaded.update(zip(loaded_keys, saved, strict=True))
        else:
            updated = [aggregate for aggregate, version in zip(saved, versions, strict=True) if version != 0]
            loaded.update(zip(loaded_keys, updated, strict=True))

    def _group_updates(
        self, state: TransactionState, aggregates: Sequence[T], versions: Sequence[int], keys: Sequence[Any]
    ) -> list[tuple[ChangedColumns[T] | None, Sequence[T], Sequence[int]]]:
        """The updates of ``aggregates`` at ``versions`` (``keys``: their ``loaded_key``) grouped by the columns they set.

        An aggregate read or saved in this transaction at the version it carries sets the
        columns whose fields changed since (see ``TableMapping.changes``); any other sets
        every column. A group whose columns another group's include joins it: one statement
        for a batch whose aggregates changed some of the same fields. A group is
        ``(columns, its aggregates, their versions)``; when every update sets the same
        columns, its lists are the ones given (no list, no tuple a row).
        """
        changes = self.changes
        by_table = state.loaded
        loaded = None if changes is None or by_table is None else by_table.get(self.mapping.table)
        if changes is None or not loaded:
            return [(None, aggregates, versions)]
        get = loaded.get
        masks = [
            changes(aggregate, old) if (old := get(key)) is not None and type(old) is type(aggregate) else -1
            for aggregate, key in zip(aggregates, keys, strict=True)
        ]
        first = masks[0]
        if masks.count(first) == len(masks):
            return [(None if first == -1 else self.mapping.changed_columns(first), aggregates, versions)]
        groups: dict[int, list[int]] = {}
        for index, mask in enumerate(masks):
            group = groups.get(mask)
            if group is None:
                groups[mask] = [index]
            else:
                group.append(index)
        full = groups.pop(-1, [])
        ordered = sorted(groups, key=int.bit_count, reverse=True)
        kept: list[int] = []
        for mask in ordered:
            wider = next((other for other in kept if mask & ~other == 0), None)
            if wider is None:
                kept.append(mask)
            else:
                groups[wider].extend(groups[mask])
        indexed: list[tuple[ChangedColumns[T] | None, list[int]]] = []
        for mask in kept:
            changed = self.mapping.changed_columns(mask)
            if changed is None:
                full.extend(groups[mask])
            else:
                indexed.append((changed, groups[mask]))
        if full:
            indexed.append((None, full))
        return [
            (changed, [aggregates[i] for i in indexes], [versions[i] for i in indexes])
            for changed, indexes in indexed
        ]

    def _refuse_pending_events(self, aggregate: T) -> None:
        if self.spec.events_field is not None and getattr(aggregate, self.spec.events_field):
            raise InvalidValueError(
                self.entity_type,
                self.spec.events_field,
                getattr(aggregate, self.spec.events_field),
                "the aggregate carries pending events that this repository would drop; "
                "save it through hexalchemy.outbox.EventRecordingRepository",
            )

    def _versions(self, batch: Sequence[T]) -> list[int]:
        """The version of each aggregate, checked as :meth:`_version_of` checks one."""
        versions = list(map(self._get_version, batch))
        rule = self.version_rule
        if rule is None:
            return versions
        if (
            all(type(version) is int for version in versions)
            and 0 <= min(versions) <= max(versions) <= rule.highest
        ):
            return versions
        return [rule.check(version) for version in versions]

    def _version_of(self, aggregate: T) -> int:
        rule = self.version_rule
        return 0 if rule is None else rule.check(self._get_version(aggregate))

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
        return self._get(id, required=False)

    def get(self, id: K) -> Plan[T]:
        """Plan: the aggregate with this key, or EntityNotFoundError."""
        return cast("Plan[T]", self._get(id, required=True))  # never None when required

    def _get(self, id: K, required: bool) -> Plan[T | None]:
        state = self.transactions.require(self.entity_type)
        id = self.mapping.check_key(id)
        path = self.path
        if path is not None and path.usable(state):
            aggregate = yield from path.get_or_none(state, id)
        else:
            result = yield Call(state.connection.execute, (self.get_statement, self._key_params(id)))
            row = result.first()
            aggregate = None if row is None else self.mapping.from_row(row)
        if aggregate is None:
            if required:
                raise EntityNotFoundError(self.entity_type, id)
            return None
        if self.changes is not None:
            self._remember(state, aggregate)
        return aggregate

    def _remember(self, state: TransactionState, aggregate: T) -> None:
        """Remember ``aggregate`` as what its row holds now (see :meth:`loaded`)."""
        by_table = state.loaded
        loaded = None if by_table is None else by_table.get(self.mapping.table)
        if loaded is None:
            loaded = self.loaded(state)
            if loaded is None:
                return
        loaded[self.loaded_key(aggregate)] = aggregate

    def contains(self, id: K) -> Plan[bool]:
        """Plan: whether the key exists."""
        state = self.transactions.require(self.entity_type)
        id = self.mapping.check_key(id)
        path = self.path
        if path is not None and path.usable(state):
            return (yield from path.contains(state, id))
        result = yield Call(state.connection.execute, (self.contains_statement, self._key_params(id)))
        return result.first() is not None

    def range(self, ids: Iterable[K]) -> Plan[list[T]]:
        """Plan: the aggregates for ``ids``, in their order, missing ones left out."""
        ids = check_list("ids", ids)
        state = self.transactions.require(self.entity_type)
        wanted = self.mapping.check_keys(ids)
        if not wanted:
            return []
        distinct: list[K]
        if self.loaded_by_int:
            # check_keys made each key a UUID: told apart by its int, which hashes in C
            distinct = list({cast(uuid.UUID, key).int: key for key in wanted}.values())
        else:
            distinct = list(dict.fromkeys(wanted))
        by_key: dict[Any, T] = {}
        composite = self.spec.is_composite
        key_of = self.spec.key_of
        from_row = self.mapping.from_row
        path = self.path
        loaded = self.loaded(state)
        if path is not None and path.ranges and path.usable(state):
            return (yield from path.range(state, wanted, distinct, loaded))
        for start in range(0, len(distinct), self.range_chunk):
            chunk: list[Any] = distinct[start : start + self.range_chunk]
            if composite:
                chunk = [self.spec.key_values(key) for key in chunk]
            result = yield Call(state.connection.execute, (self.range_statement, {"hx_keys": chunk}))
            for row in result.all():
                aggregate = from_row(row)
                by_key[key_of(aggregate)] = aggregate
        if loaded is not None:
            loaded_key = self.loaded_key
            loaded.update((loaded_key(aggregate), aggregate) for aggregate in by_key.values())
        return [by_key[key] for key in wanted if key in by_key]

    # ------------------------------------------------------------------------------ writes
    def save(self, aggregate: T) -> Plan[T]:
        """Plan: insert (version 0), version-checked update, or upsert (unversioned)."""
        aggregate = check_instance("aggregate", aggregate, self.entity_type)
        try:
            return (yield from self._save(aggregate))
        except Exception as error:
            refusal = bind_refusal(self.mapping, self.transactions.dialect, (aggregate,), error)
            if refusal is None:
                raise
            raise refusal from error

    def _save(self, aggregate: T) -> Plan[T]:
        state = self.transactions.require(self.entity_type, write=True)
        if self.spec.events_field is not None:
            self._refuse_pending_events(aggregate)
        if self.version_key is None:
            yield Call(state.connection.execute, (self.upsert_statement, self.mapping.to_row(aggregate)))
            return aggregate
        version = self._version_of(aggregate)
        saved = self.mapping.with_version(aggregate, version + 1)
        path = self.path
        usable = path is not None and path.usable(state)
        if version == 0:
            if path is not None and usable:
                inserted = yield from path.insert(state, saved)
            else:
                result = yield Call(
                    state.connection.execute, (self.insert_statement, self.mapping.to_row(saved))
                )
                inserted = len(result.all()) == 1
                if not inserted:
                    yield from self.backend.skipped_rows(state.connection, primary_key_only=True)
            if not inserted:
                raise DuplicateEntityError(self.entity_type, self.spec.key_of(aggregate))
            if state.loaded is not None:
                self._forget(state, (saved,))
            return saved
        loaded_key = self.loaded_key(aggregate)
        [(changed, _, _)] = self._group_updates(state, (aggregate,), (version,), (loaded_key,))
        if path is not None and path.updates and usable:
            rowcount = yield from path.update(
                state, path.update_rows((aggregate,), (version,), changed), changed
            )
        else:
            params = (
                self._update_params(aggregate, version)
                if changed is None
                else self._changed_params(aggregate, version, changed)
            )
            result = yield Call(state.connection.execute, (self.update_statement, params))
            rowcount = result.rowcount
        if rowcount != 1:
            key = self.spec.key_of(aggregate)
            stored = yield from self._lookup(state, [key])
            raise self._conflict(key, version, stored)
        loaded = self.loaded(state)
        if loaded is not None:
            loaded[loaded_key] = saved
        return saved

    def save_all(self, aggregates: Iterable[T]) -> Plan[list[T]]:
        """Plan: save many in a constant number of round trips, inside a savepoint.

        Every row is converted (and so checked by the value rules) before the first statement.
        """
        batch = check_items("aggregates", aggregates, self.entity_type)
        try:
            return (yield from self._save_all(batch))
        except Exception as error:
            refusal = bind_refusal(self.mapping, self.transactions.dialect, batch, error)
            if refusal is None:
                raise
            raise refusal from error

    def _save_all(self, batch: list[T]) -> Plan[list[T]]:
        state = self.transactions.require(self.entity_type, write=True)
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
        versions = self._versions(batch)
        saved = list(map(self.mapping.with_version, batch, [v + 1 for v in versions]))
        inserts = 0 in versions
        new = [s for s, v in zip(saved, versions, strict=True) if v == 0] if inserts else []
        path = self.path if self.path is not None and self.path.usable(state) else None
        bulk: BulkInsert[T] | None = path if path is not None else self.bulk
        copy_rows: list[Any] | None = None
        insert_rows: list[Any] = []
        if new:
            if bulk is not None and bulk.copies(len(new)):
                copy_rows = bulk.copy_rows(new)
            else:
                insert_rows = [self.mapping.to_row(aggregate) for aggregate in new]
        loaded_keys = list(map(self.loaded_key, batch))
        # the updates as parallel lists (no tuple a row: fewer objects for the collector)
        if inserts:
            updated = [a for a, v in zip(batch, versions, strict=True) if v != 0]
            update_versions = [v for v in versions if v != 0]
            update_loaded_keys = [key for key, v in zip(loaded_keys, versions, strict=True) if v != 0]
        else:
            updated, update_versions, update_loaded_keys = batch, versions, loaded_keys
        groups = self._group_updates(state, updated, update_versions, update_loaded_keys) if updated else []
        update_rows: list[tuple[ChangedColumns[T] | None, list[Any]]] = []
        for changed, group, group_versions in groups:
            if path is not None and path.updates:
                update_rows.append((changed, path.update_rows(group, group_versions, changed)))
            elif changed is None:
                update_rows.append((changed, list(map(self._update_params, group, group_versions))))
            else:
                update_rows.append(
                    (
                        changed,
                        [
                            self._changed_params(a, v, changed)
                            for a, v in zip(group, group_versions, strict=True)
                        ],
                    )
                )
        if len(set(loaded_keys)) != len(loaded_keys):
            self._check_distinct(batch)  # raises naming the key given twice
        savepoint = yield Call(state.connection.begin_nested)
        failure: str | None = None
        violation: ConstraintViolationError | None = None
        try:
            if bulk is not None and copy_rows is not None:
                try:
                    yield from bulk.copy(state, copy_rows)
                except ConstraintViolationError as error:  # a duplicate key, or another constraint
                    failure, violation = "insert", error
            elif insert_rows:
                result = yield Call(execute, (self.insert_statement, insert_rows))
                if len(result.all()) != len(new):
                    failure = "insert"
                    yield from self.backend.skipped_rows(state.connection, primary_key_only=True)
            if failure is None and updated:
                rowcount = 0
                for changed, rows in update_rows:
                    if path is not None and path.updates:
                        rowcount += yield from path.update(state, rows, changed)
                    else:
                        result = yield Call(execute, (self.update_statement, rows))
                        rowcount += result.rowcount
                if rowcount != len(updated):
                    failure = "update"
        except BaseException:
            yield Call(savepoint.rollback)
            raise
        if failure is None:
            yield Call(savepoint.commit)
            if new:
                self._forget(state, new)
            if updated:
                self._remember_updated(state, update_loaded_keys, saved, versions)
            return saved
        yield Call(savepoint.rollback)
        if failure == "insert":
            new_keys = [self.spec.key_of(aggregate) for aggregate in new]
            stored = yield from self._lookup(state, new_keys)
            duplicate = next((key for key in new_keys if key in stored), None)
            if duplicate is None and violation is not None:
                raise violation  # no key is taken: a unique constraint (or another) refused the rows
            raise DuplicateEntityError(self.entity_type, new_keys[0] if duplicate is None else duplicate)
        key_of = self.spec.key_of
        update_keys = [
            (key_of(aggregate), version) for aggregate, version in zip(updated, update_versions, strict=True)
        ]
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
        self._forget(state, (aggregate,))
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
        params: list[dict[str, Any]] = []
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
            self._forget(state, batch)
            return
        yield Call(savepoint.rollback)
        stored = yield from self._lookup(state, keys)
        for key, version in zip(keys, versions, strict=True):
            if key not in stored or (self.version_key is not None and stored[key] != version):
                raise self._conflict(key, version, stored)
        raise EntityNotFoundError(self.entity_type, keys[0])  # pragma: no cover - raced
