"""The probe: call every public method of every subject with junk in place of each argument in turn.

It trusts no list of methods: it finds them on the objects (every public method, and the
constructor), reads their parameters from their signatures, and asks the subject for a good
value of every other parameter (a subject that cannot give one fails the test, naming it).
For each call it checks that:

- anything raised is a :class:`~hexalchemy.ports.HexalchemyError` (no raw ``TypeError``,
  ``ValueError``, ``OverflowError``, SQLAlchemy or driver error);
- an :class:`~hexalchemy.ports.InvalidArgumentError` names the argument it was given for,
  and a ``ConfigError`` from a constructor mentions it;
- after a refusal the store is unchanged, and a call refused inside a transaction leaves
  the transaction usable: it commits (a refusal that came only after a failing statement
  would have aborted it on PostgreSQL).

For speed, the junk for one argument is first tried in one go: every call inside one
transaction, one commit and one snapshot. When anything in the batch is not a clean
refusal, each value is tried again alone, in its own transaction, to say which.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Final

import attrs

from hexalchemy.ports import (
    ConfigError,
    HexalchemyError,
    InvalidArgumentError,
    TransactionUsageError,
)

__all__ = ["NO_GOOD_VALUE", "Outcome", "Probe", "Subject", "Target", "World", "public_methods"]

NO_GOOD_VALUE: Final = object()
"""What a subject's ``good`` returns for a parameter it has no good value for."""

Call = Callable[[], object]


@attrs.frozen
class Outcome:
    """What one call did: ``ok``, ``refused`` (a HexalchemyError), ``aborted`` (its transaction would not commit) or ``raw``."""

    kind: str
    error: BaseException | None = None


def _never_blocks(method: str, parameter: str, value: object) -> bool:
    return False


@attrs.define
class Subject:
    """One public object to probe, and how to get a good value for a parameter of one of its methods."""

    name: str
    obj: object
    good: Callable[[str, str], object]
    """``good(method, parameter)``: a good value, or :data:`NO_GOOD_VALUE` (``__init__`` for the constructor)."""
    transactional: bool = True
    """Whether its methods may work in the ambient transaction (found out by a good call); False: never called in one."""
    blocks: Callable[[str, str, object], bool] = _never_blocks
    """Whether ``method(parameter=value)`` would block, or break the next call, by design: not made."""
    members: Callable[[], Iterator[tuple[str, Callable[..., Any]]]] | None = None
    """Its callables by name (default: the constructor and the public methods of ``obj``'s class)."""
    probes: Callable[[str, str], bool] = lambda method, parameter: True
    """Whether to probe ``parameter`` of ``method`` (a check's own options are its author's constants)."""


Target = tuple[Subject, str, Callable[..., Any], inspect.Parameter]
"""One argument to probe: the subject, the method's name (``__init__``), the function, the parameter."""


class World:
    """Adapters wired together, a snapshot of their store, and a way to make calls (sync or async)."""

    subjects: list[Subject]

    def snapshot(self) -> object:
        """Everything the store holds, comparable with ``==``."""
        raise NotImplementedError

    def attempt(self, calls: Sequence[Call], *, ambient: bool) -> tuple[list[Outcome], Outcome]:
        """Make the calls (inside one transaction that then commits, when ``ambient``), using each result.

        Returns each call's outcome, and the transaction's (``ok``, or what its commit raised).
        """
        raise NotImplementedError


def _outcome(error: BaseException | None) -> Outcome:
    if error is None:
        return Outcome("ok")
    return Outcome("refused" if isinstance(error, HexalchemyError) else "raw", error)


class SyncWorld(World):
    """A world of sync adapters; ``transactions`` is its manager."""

    transactions: Any

    def ping(self) -> None:
        """Run a trivial statement in the current transaction (PostgreSQL refuses one in an aborted transaction)."""

    def _each(self, calls: Sequence[Call], *, ambient: bool) -> list[Outcome]:
        outcomes = []
        for call in calls:
            try:
                _use(call())
            except Exception as error:
                outcomes.append(_outcome(error))
                if ambient and _still_usable(self.ping, outcomes) is not None:
                    break
            else:
                outcomes.append(Outcome("ok"))
        return outcomes

    def attempt(self, calls: Sequence[Call], *, ambient: bool) -> tuple[list[Outcome], Outcome]:
        if not ambient:
            return self._each(calls, ambient=False), Outcome("ok")
        outcomes: list[Outcome] = []
        try:
            with self.transactions.begin():
                outcomes = self._each(calls, ambient=True)
        except Exception as error:
            return outcomes, _outcome(error)
        return outcomes, Outcome("ok")


def _still_usable(ping: Callable[[], None], outcomes: list[Outcome]) -> BaseException | None:
    """Ping the transaction after a refusal; when it fails, turn the last outcome into ``aborted`` and return why."""
    try:
        ping()
    except Exception as aborted:
        outcomes[-1] = Outcome("aborted", aborted)
        return aborted
    return None


def _use(result: object) -> None:
    if inspect.iscoroutine(
        result
    ):  # an async method of an object a sync world holds (Schema.create_all_async)
        asyncio.run(result)
    elif isinstance(result, AbstractContextManager):
        with result:
            pass


class AsyncWorld(World):
    """A world of async adapters, run on its own event loop; ``transactions`` is its manager."""

    transactions: Any
    loop: asyncio.AbstractEventLoop

    def attempt(self, calls: Sequence[Call], *, ambient: bool) -> tuple[list[Outcome], Outcome]:
        return self.loop.run_until_complete(self._attempt(calls, ambient=ambient))

    async def ping(self) -> None:
        """Run a trivial statement in the current transaction (see :meth:`SyncWorld.ping`)."""

    async def _each(self, calls: Sequence[Call], *, ambient: bool) -> list[Outcome]:
        outcomes = []
        for call in calls:
            try:
                await _use_async(call())
            except Exception as error:
                outcomes.append(_outcome(error))
                if ambient:
                    try:
                        await self.ping()
                    except Exception as aborted:
                        outcomes[-1] = Outcome("aborted", aborted)
                        break
            else:
                outcomes.append(Outcome("ok"))
        return outcomes

    async def _attempt(self, calls: Sequence[Call], *, ambient: bool) -> tuple[list[Outcome], Outcome]:
        if not ambient:
            return await self._each(calls, ambient=False), Outcome("ok")
        outcomes: list[Outcome] = []
        try:
            async with self.transactions.begin():
                outcomes = await self._each(calls, ambient=True)
        except Exception as error:
            return outcomes, _outcome(error)
        return outcomes, Outcome("ok")


async def _use_async(result: object) -> None:
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, AbstractAsyncContextManager):
        async with result:
            pass
    elif isinstance(result, AbstractContextManager):
        with result:
            pass


def public_methods(obj: object) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The public methods of ``obj``'s class (properties and attributes left out), by name."""
    for name, member in inspect.getmembers(type(obj)):
        if name.startswith("_") or isinstance(member, property):
            continue
        if inspect.isfunction(member) or inspect.ismethoddescriptor(member) or inspect.ismethod(member):
            yield name, getattr(obj, name)  # ismethod: a classmethod (DatabaseConfig.from_env)


def _parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    return [
        parameter
        for parameter in inspect.signature(function).parameters.values()
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Probe:
    """Runs junk through a world's subjects and collects what went wrong, one line per kind of failure."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.failures: list[str] = []
        self._groups: dict[str, int] = {}
        self.calls = 0
        self._snapshot: object = None
        self._ambient: dict[tuple[str, str], bool] = {}

    # -- reporting ------------------------------------------------------------------------------

    def _fail(self, where: str, message: str, group: str) -> None:
        """Record a failure; of those sharing ``group``, only the first is kept (the report counts the rest)."""
        if group not in self._groups:
            self.failures.append(f"{where}: {message}")
            self._groups[group] = 0
        self._groups[group] += 1

    def report(self) -> str:
        """The failures, one line each (with how many similar calls failed alike)."""
        counts = list(self._groups.values())
        lines = [
            f"{line}  [x{count}]" if count > 1 else line
            for line, count in zip(self.failures, counts, strict=True)
        ]
        return f"{sum(counts)} failures in {self.calls} calls:\n" + "\n".join(lines)

    # -- targets and arguments ------------------------------------------------------------------

    def targets(self) -> Iterator[Target]:
        """Every (subject, method, function, parameter) to probe, constructors included."""
        for subject in self.world.subjects:
            if subject.members is not None:
                members = list(subject.members())
            else:
                members = [("__init__", type(subject.obj)), *public_methods(subject.obj)]
            for name, function in members:
                for parameter in _parameters(function):
                    if subject.probes(name, parameter.name):
                        yield subject, name, function, parameter

    def _call(
        self, subject: Subject, method: str, function: Callable[..., Any], junk_for: str, junk: object
    ) -> Call | None:
        """``function`` with ``junk`` as ``junk_for`` and good values elsewhere (defaults where there is none)."""
        args: list[object] = []
        kwargs: dict[str, object] = {}
        for parameter in _parameters(function):
            if parameter.name == junk_for:
                value = junk
            else:
                value = subject.good(method, parameter.name)
                if value is NO_GOOD_VALUE:
                    if parameter.default is not parameter.empty:
                        continue
                    where = f"{subject.name}.{method}"
                    self._fail(where, f"no good value for {parameter.name!r}", f"{where} {parameter.name}")
                    return None
            if parameter.kind is parameter.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[parameter.name] = value
        return lambda: function(*args, **kwargs)

    def _is_ambient(self, subject: Subject, method: str, function: Callable[..., Any]) -> bool:
        """Whether the method works in the ambient transaction (found by a good call inside one)."""
        key = (subject.name, method)
        if key not in self._ambient:
            ambient = subject.transactional and method != "__init__"
            call = self._call(subject, method, function, "", None) if ambient else None
            if call is not None:
                (outcome,), _ = self.world.attempt([call], ambient=True)
                self._snapshot = None
                if isinstance(outcome.error, TransactionUsageError):
                    ambient = False
                elif outcome.kind == "raw":
                    where = f"{subject.name}.{method}"
                    message = f"a good call raised {type(outcome.error).__name__}: {outcome.error}"
                    self._fail(where, message, where)
            self._ambient[key] = ambient
        return self._ambient[key]

    # -- calls ----------------------------------------------------------------------------------

    def probe(
        self,
        subject: Subject,
        method: str,
        function: Callable[..., Any],
        parameter: str,
        values: Sequence[object],
    ) -> None:
        """Try every value of ``values`` as ``parameter``: in one batch, and one by one when the batch is not clean."""
        values = [value for value in values if not subject.blocks(method, parameter, value)]
        calls = [self._call(subject, method, function, parameter, value) for value in values]
        if not values or None in calls:
            return
        ambient = self._is_ambient(subject, method, function)
        builds = method == "__init__"  # a constructor writes nothing: no transaction, no snapshot
        if self._snapshot is None and not builds:
            self._snapshot = self.world.snapshot()
        outcomes, final = self.world.attempt([call for call in calls if call is not None], ambient=ambient)
        clean = final.kind == "ok" and all(outcome.kind == "refused" for outcome in outcomes)
        if clean and not builds and self.world.snapshot() != self._snapshot:
            clean = False
        if not clean:
            self._snapshot = None
            for value in values:
                self.call(subject, method, function, parameter, value)
            return
        self.calls += len(values)
        for value, outcome in zip(values, outcomes, strict=True):
            self._judge(subject, method, parameter, value, outcome, final, changed=False)
        if any(outcome.kind == "ok" for outcome in outcomes):
            self._snapshot = None

    def call(
        self, subject: Subject, method: str, function: Callable[..., Any], parameter: str, junk: object
    ) -> None:
        """Call ``function`` with ``junk`` as ``parameter`` (good values elsewhere) alone, and check what happens."""
        if subject.blocks(method, parameter, junk):
            return
        call = self._call(subject, method, function, parameter, junk)
        if call is None:
            return
        ambient = self._is_ambient(subject, method, function)
        builds = method == "__init__"
        if self._snapshot is None and not builds:
            self._snapshot = self.world.snapshot()
        self.calls += 1
        (outcome,), final = self.world.attempt([call], ambient=ambient)
        if outcome.kind == "ok" and final.kind == "ok":
            self._snapshot = None
            return
        changed = False
        if not builds:
            after = self.world.snapshot()
            changed = after != self._snapshot
            self._snapshot = after
        self._judge(subject, method, parameter, junk, outcome, final, changed=changed)

    def _judge(
        self,
        subject: Subject,
        method: str,
        parameter: str,
        junk: object,
        outcome: Outcome,
        final: Outcome,
        *,
        changed: bool,
    ) -> None:
        where = f"{subject.name}.{method}({parameter}={_shown(junk)})"
        error = outcome.error
        group = f"{subject.name}.{method}({parameter}) {outcome.kind} {type(error).__name__}"
        if outcome.kind == "raw":
            self._fail(where, f"raw {type(error).__name__}: {_shown(str(error))}", group)
        elif outcome.kind == "aborted":
            message = f"the refusal came after a failing statement: the transaction is aborted ({_shown(str(error))})"
            self._fail(where, message, group)
        elif final.kind != "ok":
            aborted = final.error
            message = (
                f"the transaction did not commit after it: {type(aborted).__name__}: {_shown(str(aborted))}"
            )
            self._fail(where, message, group + " aborted")
        elif isinstance(error, InvalidArgumentError) and not error.argument.startswith(parameter):
            self._fail(where, f"InvalidArgumentError names {error.argument!r}, not {parameter!r}", group)
        elif isinstance(error, ConfigError) and parameter not in str(error):
            self._fail(where, f"ConfigError does not name {parameter!r}: {_shown(str(error))}", group)
        if changed:
            self._fail(where, f"{type(error).__name__} raised, but the store changed", group + " changed")
