"""The in-memory transactions and repositories' logic (private).

Synchronous classes (:class:`TransactionCore`, :class:`Block`, :class:`RepositoryCore`)
that the public transaction managers and repositories (:mod:`hexalchemy.testing.memory`)
are thin shells over; those are written once, async, in ``_async/memory.py`` and generated
into ``_sync/memory.py``. The in-memory outbox and agent stores build on the same machinery.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import enum
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, cast

from hexalchemy.ports import (
    CommitError,
    ConfigError,
    DuplicateEntityError,
    EntityNotFoundError,
    EntitySpec,
    InvalidValueError,
    IsolationLevel,
    NoActiveTransactionError,
    ReadOnlyTransactionError,
    TransactionUsageError,
    VersionConflictError,
)
from hexalchemy.ports.agents import Page
from hexalchemy.ports.query import Condition, Query
from hexalchemy.rules import (
    CheckedQuery,
    EntityDomain,
    QueryRules,
    ValueRule,
    check_commit_failure,
    check_find_limit,
    check_instance,
    check_items,
    check_list,
    check_page_size,
    version_rule,
)
from hexalchemy.testing._unique import check_unique

__all__: list[str] = []

T = TypeVar("T")
K = TypeVar("K")


class _Missing(enum.Enum):
    """Marks an absent row: not in the store, or deleted in a transaction layer."""

    MISSING = enum.auto()


MISSING = _Missing.MISSING

# A row is identified across entity classes by (entity class, key).
_RowId = tuple[type[object], object]


class _Expected:
    """The committed state of a row when the transaction first wrote it."""

    __slots__ = ("spec", "exists", "version")

    def __init__(self, spec: EntitySpec[Any, Any], exists: bool, version: int) -> None:
        self.spec = spec
        self.exists = exists
        self.version = version


class _Layer:
    """The writes of one ``begin()`` block: the outermost transaction or a savepoint."""

    __slots__ = ("read_only", "writes", "expected")

    def __init__(self, read_only: bool) -> None:
        self.read_only = read_only
        # row -> stored deep copy, or MISSING for a delete
        self.writes: dict[_RowId, object] = {}
        # row -> committed state observed at the first write (only for rows first written here)
        self.expected: dict[_RowId, _Expected] = {}

    def merge_into(self, parent: _Layer) -> None:
        """Fold this savepoint's work into its parent layer."""
        parent.writes.update(self.writes)
        for row, expected in self.expected.items():
            parent.expected.setdefault(row, expected)


class TxState:
    """One transaction of one thread or task: its owner and its stack of layers."""

    __slots__ = ("owner", "layers", "closed")

    def __init__(self, owner: object, read_only: bool) -> None:
        self.owner = owner
        self.layers: list[_Layer] = [_Layer(read_only)]
        self.closed = False


class TransactionCore:
    """The committed store and the ambient transaction of one transaction manager."""

    def __init__(self, *, owner: Callable[[], object], owner_kind: str, opener: str, spawn_hint: str) -> None:
        self._owner = owner
        self._owner_kind = owner_kind
        self._opener = opener
        self._spawn_hint = spawn_hint
        self.lock = threading.Lock()
        self.committed: dict[type[object], dict[object, object]] = {}
        self._current: contextvars.ContextVar[TxState | None] = contextvars.ContextVar(
            f"hexalchemy_memory_transaction_{id(self):x}", default=None
        )
        self._next_commit_failure: BaseException | None = None

    # -- the ambient transaction --------------------------------------------------------

    def state(self) -> TxState | None:
        """Return the calling thread's or task's open transaction, or None.

        Raise ``TransactionUsageError`` when the context holds a transaction opened by
        another thread or task (the context was copied into this one).
        """
        state = self._current.get()
        if state is None or state.closed:
            return None
        if state.owner != self._owner():
            raise TransactionUsageError(
                f"a transaction belongs to the {self._owner_kind} that opened it and cannot be used "
                f"from another {self._owner_kind} ({self._spawn_hint} copies the context, and with it "
                f"the open transaction); call the repositories and begin() from the "
                f"{self._owner_kind} that opened the transaction"
            )
        return state

    def in_transaction(self) -> bool:
        """Whether the calling thread or task has an open transaction (never raises)."""
        state = self._current.get()
        return state is not None and not state.closed and state.owner == self._owner()

    def require(self, entity_type: type[object], *, write: bool) -> TxState:
        """Return the open transaction for a repository call, or raise why there is none."""
        state = self.state()
        if state is None:
            raise NoActiveTransactionError(
                f"the {entity_type.__qualname__} repository was used outside a transaction: "
                f"wrap the call in `{self._opener}`"
            )
        if write and state.layers[-1].read_only:
            raise ReadOnlyTransactionError(
                f"cannot write {entity_type.__qualname__} in a read-only transaction (begin(read_only=True))"
            )
        return state

    def open(self, read_only: bool, isolation_level: IsolationLevel | None) -> tuple[TxState, bool]:
        """Open a transaction, or a savepoint inside the open one; return it and whether it is new.

        A transaction inherited through a copied context (a child task, ``asyncio.to_thread``)
        belongs to another thread or task: this one opens its own.
        """
        state = self._current.get()
        if state is None or state.closed or state.owner != self._owner():
            state = TxState(self._owner(), read_only)
            self._current.set(state)
            return state, True
        if isolation_level is not None:
            raise TransactionUsageError(
                f"isolation_level applies to the outermost transaction only, got {isolation_level!r} "
                "for a nested begin()"
            )
        state.layers.append(_Layer(read_only or state.layers[-1].read_only))
        return state, False

    def close(self, state: TxState) -> None:
        """Forget the finished outermost transaction of this context."""
        state.closed = True
        self._current.set(None)

    # -- commit -------------------------------------------------------------------------

    def fail_next_commit(self, error: Exception | None) -> None:
        """Arm a failure for the next outermost commit."""
        error = check_commit_failure(error)
        failure = (
            error if error is not None else RuntimeError("commit failure injected by fail_next_commit()")
        )
        with self.lock:
            self._next_commit_failure = failure

    def commit(self, layer: _Layer) -> None:
        """Validate the transaction's writes against the store and apply them all, or none."""
        with self.lock:
            failure = self._next_commit_failure
            if failure is not None:
                self._next_commit_failure = None
                raise CommitError(
                    f"the commit failed ({failure!r}); the transaction was rolled back"
                ) from failure
            for row, value in layer.writes.items():
                self._validate(row, value, layer.expected[row])
            self._validate_unique(layer)
            for row, value in layer.writes.items():
                entity_type, key = row
                table = self.committed.setdefault(entity_type, {})
                if value is MISSING:
                    if layer.expected[row].exists:
                        table.pop(key, None)
                else:
                    table[key] = value

    def _validate_unique(self, layer: _Layer) -> None:
        """Refuse the commit when a written row collides with a row another transaction committed."""
        written: dict[type[object], list[tuple[object, object]]] = {}
        specs: dict[type[object], EntitySpec[Any, Any]] = {}
        for (entity_type, key), value in layer.writes.items():
            spec = layer.expected[(entity_type, key)].spec
            if spec.unique and value is not MISSING:
                written.setdefault(entity_type, []).append((key, value))
                specs[entity_type] = spec
        for entity_type, new in written.items():
            rows = {
                key: value
                for key, value in self.committed.get(entity_type, {}).items()
                if layer.writes.get((entity_type, key), value) is not MISSING
            }
            check_unique(specs[entity_type], rows, new)

    def _validate(self, row: _RowId, value: object, expected: _Expected) -> None:
        entity_type, key = row
        actual = self.committed.get(entity_type, {}).get(key, MISSING)
        spec = expected.spec
        if not spec.is_versioned:
            if value is MISSING and expected.exists and actual is MISSING:
                raise EntityNotFoundError(entity_type, key)
            return
        if actual is MISSING:
            if expected.exists:
                raise EntityNotFoundError(entity_type, key)
            return
        if not expected.exists:
            raise DuplicateEntityError(entity_type, key)
        actual_version = spec.version_of(actual)
        if actual_version != expected.version:
            raise VersionConflictError(entity_type, key, expected.version, actual_version)

    # -- rows -----------------------------------------------------------------------------

    def visible(self, state: TxState, entity_type: type[object], key: object) -> object:
        """Return the row as this transaction sees it (own writes over committed), or MISSING.

        Call with ``lock`` held.
        """
        row = (entity_type, key)
        for layer in reversed(state.layers):
            if row in layer.writes:
                return layer.writes[row]
        return self.committed.get(entity_type, {}).get(key, MISSING)

    def visible_rows(self, state: TxState, entity_type: type[object]) -> dict[object, object]:
        """Every row of ``entity_type`` this transaction sees, by key (own writes over committed).

        Call with ``lock`` held.
        """
        rows = dict(self.committed.get(entity_type, {}))
        for layer in state.layers:
            for (row_type, key), value in layer.writes.items():
                if row_type is not entity_type:
                    continue
                if value is MISSING:
                    rows.pop(key, None)
                else:
                    rows[key] = value
        return rows

    def write(self, state: TxState, spec: EntitySpec[Any, Any], key: object, value: object) -> None:
        """Buffer a write (a stored copy, or MISSING to delete) in the innermost layer.

        Call with ``lock`` held.
        """
        row = (spec.cls, key)
        if not any(row in layer.expected for layer in state.layers):
            committed = self.committed.get(spec.cls, {}).get(key, MISSING)
            exists = committed is not MISSING
            version = spec.version_of(committed) if exists else 0
            state.layers[-1].expected[row] = _Expected(spec, exists, version)
        state.layers[-1].writes[row] = value


class Block:
    """One ``begin()`` block: opens on enter, commits/merges or discards on exit."""

    __slots__ = ("_core", "_read_only", "_isolation_level", "_state", "_layer", "_outermost")

    def __init__(
        self, core: TransactionCore, read_only: bool, isolation_level: IsolationLevel | None
    ) -> None:
        self._core = core
        self._read_only = read_only
        self._isolation_level = isolation_level
        self._state: TxState | None = None
        self._layer: _Layer | None = None
        self._outermost = False

    def enter(self) -> None:
        """Open the transaction or savepoint."""
        if self._state is not None:
            raise TransactionUsageError("a begin() block cannot be entered twice; call begin() again")
        state, self._outermost = self._core.open(self._read_only, self._isolation_level)
        self._state = state
        self._layer = state.layers[-1]

    def exit(self, failed: bool) -> None:
        """Close the block: on success merge (savepoint) or commit; on failure discard."""
        state, layer = self._state, self._layer
        if (
            state is None
            or layer is None
            or state.closed
            or not state.layers
            or state.layers[-1] is not layer
        ):
            raise TransactionUsageError(
                "begin() blocks must be exited in the reverse order they were entered"
            )
        state.layers.pop()
        if not self._outermost:
            if not failed:
                layer.merge_into(state.layers[-1])
            return
        self._core.close(state)
        if not failed:
            self._core.commit(layer)


def _current_task() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop
        return None


def core_of(transactions: object, manager: type[object]) -> TransactionCore:
    """The core of ``transactions``, an in-memory manager of class ``manager``; ``ConfigError`` otherwise."""
    checked: Any = check_instance("transactions", transactions, manager, error=ConfigError)
    core: TransactionCore = checked._core
    return core


class RepositoryCore(Generic[T, K]):
    """The repository operations, shared by the sync and async repositories."""

    __slots__ = ("_spec", "_cls", "_core", "_domain", "_queries", "_version_rule")

    def __init__(
        self, spec: EntitySpec[T, K], core: TransactionCore, types: Mapping[object, ValueRule] | None = None
    ) -> None:
        check_instance("spec", spec, EntitySpec, error=ConfigError)
        self._spec = spec
        self._cls: type[object] = spec.cls
        self._core = core
        # The value rules the SQL mapping applies too: the same values are refused, and stored
        # in the same normalised form (UTC datetimes, Decimals as a database returns them);
        # a schema's registered types by the rules it gives (Schema.type_rules).
        self._domain = EntityDomain(spec, types=types)
        self._version_rule = version_rule(spec) if spec.version_field is not None else None
        self._queries: QueryRules[T] | None = None

    def _normalize(self, key: K) -> K:
        return self._domain.normalize_key(key)

    def _copy(self, value: object) -> T:
        return cast(T, copy.deepcopy(value))

    # -- reads ----------------------------------------------------------------------------

    def get_or_none(self, id: K) -> T | None:
        state = self._core.require(self._cls, write=False)
        key = self._normalize(id)
        with self._core.lock:
            value = self._core.visible(state, self._cls, key)
        return None if value is MISSING else self._copy(value)

    def get(self, id: K) -> T:
        found = self.get_or_none(id)
        if found is None:
            raise EntityNotFoundError(self._cls, self._normalize(id))
        return found

    def contains(self, id: K) -> bool:
        state = self._core.require(self._cls, write=False)
        key = self._normalize(id)
        with self._core.lock:
            return self._core.visible(state, self._cls, key) is not MISSING

    def range(self, ids: Iterable[K]) -> list[T]:
        ids = check_list("ids", ids)
        state = self._core.require(self._cls, write=False)
        keys = [self._normalize(id) for id in ids]
        with self._core.lock:
            values = [self._core.visible(state, self._cls, key) for key in keys]
        return [self._copy(value) for value in values if value is not MISSING]

    # -- writes ---------------------------------------------------------------------------

    def _prepare_save(self, aggregate: T) -> tuple[K, int, T, object]:
        """Return the key, the given version, the aggregate to return and the copy to store."""
        spec = self._spec
        if spec.pending_events(aggregate):
            raise InvalidValueError(
                self._cls,
                spec.events_field or "events",
                spec.pending_events(aggregate),
                "the aggregate carries pending events that this repository would drop; "
                "save it through hexalchemy.outbox.EventRecordingRepository",
            )
        version = spec.version_of(aggregate)
        if self._version_rule is not None:
            version = self._version_rule.check(version)
            result = spec.with_version(aggregate, version + 1)
        else:
            result = aggregate
        stored = self._domain.normalize(result)
        return spec.key_of(stored), version, result, copy.deepcopy(stored)

    def _check_save(self, state: TxState, key: K, version: int) -> None:
        if not self._spec.is_versioned:
            return
        current = self._core.visible(state, self._cls, key)
        if version == 0:
            if current is not MISSING:
                raise DuplicateEntityError(self._cls, key)
            return
        if current is MISSING:
            raise EntityNotFoundError(self._cls, key)
        stored = self._spec.version_of(cast(T, current))
        if stored != version:
            raise VersionConflictError(self._cls, key, version, stored)

    def _check_unique(self, state: TxState, new: list[tuple[K, object]]) -> None:
        if self._spec.unique:
            check_unique(self._spec, self._core.visible_rows(state, self._cls), new)

    def _check_delete(self, state: TxState, key: K, version: int) -> None:
        current = self._core.visible(state, self._cls, key)
        if current is MISSING:
            raise EntityNotFoundError(self._cls, key)
        if self._spec.is_versioned:
            stored = self._spec.version_of(cast(T, current))
            if stored != version:
                raise VersionConflictError(self._cls, key, version, stored)

    def _check_batch_key(self, seen: set[object], key: K) -> None:
        if key in seen:
            raise InvalidValueError(self._cls, "key", key, "appears twice in one batch")
        seen.add(key)

    def save(self, aggregate: T) -> T:
        aggregate = check_instance("aggregate", aggregate, self._spec.cls)
        state = self._core.require(self._cls, write=True)
        key, version, result, stored = self._prepare_save(aggregate)
        with self._core.lock:
            self._check_save(state, key, version)
            self._check_unique(state, [(key, stored)])
            self._core.write(state, self._spec, key, stored)
        return result

    def save_all(self, aggregates: Iterable[T]) -> list[T]:
        aggregates = check_items("aggregates", aggregates, self._spec.cls)
        state = self._core.require(self._cls, write=True)
        prepared = [self._prepare_save(aggregate) for aggregate in aggregates]
        with self._core.lock:
            seen: set[object] = set()
            for key, version, _, _ in prepared:
                self._check_batch_key(seen, key)
                self._check_save(state, key, version)
            self._check_unique(state, [(key, stored) for key, _, _, stored in prepared])
            for key, _, _, stored in prepared:
                self._core.write(state, self._spec, key, stored)
        return [result for _, _, result, _ in prepared]

    def delete(self, aggregate: T) -> None:
        aggregate = check_instance("aggregate", aggregate, self._spec.cls)
        self.delete_all((aggregate,))

    def delete_all(self, aggregates: Iterable[T]) -> None:
        aggregates = check_items("aggregates", aggregates, self._spec.cls)
        state = self._core.require(self._cls, write=True)
        rule = self._version_rule
        targets = [
            (
                self._normalize(self._spec.key_of(aggregate)),
                0 if rule is None else rule.check(self._spec.version_of(aggregate)),
            )
            for aggregate in aggregates
        ]
        with self._core.lock:
            seen: set[object] = set()
            for key, version in targets:
                self._check_batch_key(seen, key)
                self._check_delete(state, key, version)
            for key, _ in targets:
                self._core.write(state, self._spec, key, MISSING)

    # -- queries --------------------------------------------------------------------------

    @property
    def query_rules(self) -> QueryRules[T]:
        """The entity's query rules, built at the first query."""
        if self._queries is None:
            self._queries = QueryRules(self._spec)
        return self._queries

    def _matching(self, query: Query[T]) -> tuple[CheckedQuery[T], list[T]]:
        """The checked query and the stored aggregates matching it, in its order (not copied)."""
        rules = self.query_rules
        checked = rules.check_query(query)
        state = self._core.require(self._cls, write=False)
        with self._core.lock:
            rows = list(self._core.visible_rows(state, self._cls).values())
        found = [cast(T, row) for row in rows if rules.matches(checked, cast(T, row))]
        return checked, found

    def find(self, query: Query[T], limit: int | None) -> list[T]:
        limit = check_find_limit(limit)
        checked, found = self._matching(query)
        ordered = self.query_rules.sorted(checked, found)
        return [self._copy(row) for row in (ordered if limit is None else ordered[:limit])]

    def first(self, query: Query[T]) -> T | None:
        found = self.find(query, 1)
        return found[0] if found else None

    def count(self, query: Query[T]) -> int:
        return len(self._matching(query)[1])

    def exists(self, query: Query[T]) -> bool:
        return bool(self._matching(query)[1])

    def page(self, query: Query[T], size: int, after: str | None) -> Page[T]:
        size = check_page_size("size", size)
        rules = self.query_rules
        checked, found = self._matching(query)
        if after is not None:
            position = rules.position_of(checked, after)
            found = [
                row
                for row in found
                if rules.compare_positions(checked, rules.sort_values(checked, row), position) > 0
            ]
        ordered = rules.sorted(checked, found)
        items = [self._copy(row) for row in ordered[:size]]
        following = rules.cursor_of(checked, items[-1]) if len(ordered) > size else None
        return Page(items=tuple(items), next_cursor=following)

    def stream_chunks(self, query: Query[T], chunk_size: int) -> list[list[T]]:
        """The matching aggregates in order, copied a chunk at a time (the snapshot of the call)."""
        chunk_size = check_page_size("chunk_size", chunk_size)
        checked, found = self._matching(query)
        ordered = self.query_rules.sorted(checked, found)
        return [ordered[start : start + chunk_size] for start in range(0, len(ordered), chunk_size)]

    def copies(self, rows: list[T]) -> list[T]:
        """Deep copies of stored rows."""
        return [self._copy(row) for row in rows]

    def delete_where(self, condition: Condition[T]) -> int:
        rules = self.query_rules
        checked = rules.check_condition_of(condition)
        state = self._core.require(self._cls, write=True)
        with self._core.lock:
            rows = self._core.visible_rows(state, self._cls)
            doomed = [key for key, row in rows.items() if rules.truth(checked, cast(T, row)) is True]
            for key in doomed:
                self._core.write(state, self._spec, key, MISSING)
        return len(doomed)


def core_per_thread() -> TransactionCore:
    """The transaction core of a sync manager: each thread has a transaction of its own."""
    return TransactionCore(
        owner=threading.get_ident,
        owner_kind="thread",
        opener="with transactions.begin():",
        spawn_hint="asyncio.to_thread or an executor",
    )


def core_per_task() -> TransactionCore:
    """The transaction core of an async manager: each asyncio task has a transaction of its own."""
    return TransactionCore(
        owner=_current_task,
        owner_kind="asyncio task",
        opener="async with transactions.begin():",
        spawn_hint="asyncio.create_task, a TaskGroup or asyncio.gather",
    )
