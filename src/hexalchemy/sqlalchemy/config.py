"""Database configuration: one immutable, validated value for sync and async engines.

:class:`DatabaseConfig` holds everything needed to build an engine with
:func:`hexalchemy.sqlalchemy.engine.create_engine` or
:func:`hexalchemy.sqlalchemy.engine.create_async_engine`. Every value is checked when the
object is built (a bad value raises :class:`~hexalchemy.ports.errors.ConfigError` naming
the option), and :meth:`DatabaseConfig.from_env` reads it from environment variables.

The options, their environment variables and their parsers are listed once, in
``_OPTIONS`` below; :meth:`DatabaseConfig.from_env` is driven by that table and the
tests check that it, the attributes and the documentation agree.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hexalchemy._guards import is_instance
from hexalchemy.ports.errors import ConfigError
from hexalchemy.rules.arguments import MAX_DURATION
from hexalchemy.rules.numbers import parse_decimal_float, parse_decimal_int
from hexalchemy.sqlalchemy.backend import Backend, backend_for, backends

__all__ = [
    "DEFAULT_ENV_PREFIX",
    "MAX_POOL_CONNECTIONS",
    "SUPPORTED_DRIVERS",
    "TEST_ENV_PREFIX",
    "DatabaseConfig",
]

DEFAULT_ENV_PREFIX: Final = "HEXALCHEMY_"
"""The prefix of the environment variables read by :meth:`DatabaseConfig.from_env`."""
TEST_ENV_PREFIX: Final = "HEXALCHEMY_TEST_"
"""Where the pytest plugin's variables live (its test database URLs); ``from_env`` does not read them."""

SUPPORTED_DRIVERS: Final = frozenset(driver for backend in backends() for driver in backend.url_drivers)
"""The URL driver names a :class:`DatabaseConfig` accepts (``postgresql`` means ``postgresql+psycopg``)."""

_MAX_PORT: Final = 65535
MAX_POOL_CONNECTIONS: Final = 1000
"""The most connections ``pool_size`` and ``max_overflow`` may each ask for.

PostgreSQL and MariaDB serve 100 and 151 connections by default; a pool of thousands is a
typo (``50000`` for ``50``) that would only show once the database refuses connections.
"""
_MAX_BUSY_TIMEOUT_MS: Final = 2**31 - 1  # SQLite's busy timeout is a C int of milliseconds

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})

# user and password as SQLAlchemy's URL parser reads them: ``name://user:password@...``
_PASSWORD_IN_URL: Final = re.compile(r"(?P<keep>^[\w+]+://[^:/]*:)[^@]*@")


# C0 controls (line breaks, tabs, NUL) and DEL: never part of a URL as written (RFC 3986)
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``, for messages."""
    return _PASSWORD_IN_URL.sub(r"\g<keep>***@", url)


def _url_repr(url: str) -> str:
    return repr(_redact_url(url))


# --- validators (attrs calls them with the instance, the attribute and the value) ---------


def _check_url(value: str) -> str:
    """Check ``value`` is a supported database URL and return it normalised."""
    if not is_instance(value, str):
        raise ConfigError("url", value, "must be a string")
    shown = _redact_url(value)
    control = _CONTROL.search(value)
    if control is not None:
        raise ConfigError(
            "url",
            shown,
            f"holds the control character {control.group()!r} at index {control.start()}: a URL is one line "
            "of printable text (percent-encode a character that is meant, as %0A)",
        )
    try:
        url = make_url(value)
    except ArgumentError as error:
        raise ConfigError("url", shown, f"not a database URL ({error})") from None
    except ValueError:  # SQLAlchemy reads the port with int()
        raise ConfigError("url", shown, "the port must be a number from 1 to 65535") from None
    if url.port is not None and not 1 <= url.port <= _MAX_PORT:
        raise ConfigError("url", shown, "the port must be a number from 1 to 65535")
    try:
        backend: Backend | None = backend_for(url.get_backend_name())
    except ConfigError:
        backend = None
    normalised = None if backend is None else backend.normalise_url(url)
    if backend is None or normalised is None:
        hints = "".join(f" ({each.url_hint})" for each in backends() if each.url_hint)
        raise ConfigError(
            "url",
            shown,
            f"unsupported database driver {url.drivername!r}; supported: "
            f"{', '.join(sorted(SUPPORTED_DRIVERS))}{hints}",
        )
    problem = backend.url_problem(normalised)
    if problem is not None:
        raise ConfigError("url", shown, problem)
    if normalised == url:
        return value
    return normalised.render_as_string(hide_password=False)


def _validate_bool(_instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not is_instance(value, bool):
        raise ConfigError(attribute.name, value, "must be a bool (True or False)")


def _int_at_least(
    minimum: int, meaning: str = "", *, maximum: int | None = None
) -> Callable[[object, attrs.Attribute[int | None], int | None], None]:
    def validate(_instance: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not is_instance(value, int):
            raise ConfigError(attribute.name, value, "must be an integer or None")
        if value < minimum:
            raise ConfigError(attribute.name, value, f"must be at least {minimum}{meaning}")
        if maximum is not None and value > maximum:
            raise ConfigError(attribute.name, value, f"must be at most {maximum} connections")

    return validate


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    if not math.isfinite(value):
        raise ValueError
    return float(value)


def _validate_pool_timeout(
    _instance: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is None:
        return
    try:
        seconds = _seconds(value)
    except (TypeError, ValueError):
        raise ConfigError(attribute.name, value, "must be a finite number of seconds or None") from None
    if seconds <= 0:
        raise ConfigError(attribute.name, value, "must be greater than 0 seconds")
    if seconds > MAX_DURATION.total_seconds():
        # the pool's wait would overflow the platform's time_t (a raw OverflowError at checkout)
        raise ConfigError(
            attribute.name, value, f"must be at most {MAX_DURATION.total_seconds():.0f} seconds (a year)"
        )


def _validate_busy_timeout(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    try:
        seconds = _seconds(value)
    except (TypeError, ValueError):
        raise ConfigError(attribute.name, value, "must be a finite number of seconds") from None
    if seconds < 0:
        raise ConfigError(attribute.name, value, "must be at least 0 seconds")
    if round(seconds * 1000) > _MAX_BUSY_TIMEOUT_MS:
        raise ConfigError(attribute.name, value, f"must be at most {_MAX_BUSY_TIMEOUT_MS / 1000} seconds")


@attrs.frozen(kw_only=True)
class DatabaseConfig:
    """How to connect to the database; builds both sync and async engines.

    Build it directly (``DatabaseConfig(url="sqlite:///app.db", pool_size=5)``) or from
    the environment with :meth:`from_env`. Options left at ``None`` use SQLAlchemy's
    default. Every value is validated here: a bad one raises
    :class:`~hexalchemy.ports.errors.ConfigError` naming the option.

    Options (attribute / environment variable with the default prefix):

    * ``url`` / ``HEXALCHEMY_DATABASE_URL`` -- required; a SQLAlchemy URL with one of the
      drivers in :data:`SUPPORTED_DRIVERS`. ``postgresql://`` is stored as
      ``postgresql+psycopg://``. One URL serves both engines: for SQLite the sync engine
      uses pysqlite and the async engine aiosqlite, whichever the URL names.
    * ``echo`` / ``HEXALCHEMY_ECHO`` -- log every statement (default ``False``).
    * ``echo_pool`` / ``HEXALCHEMY_ECHO_POOL`` -- log pool checkouts and checkins
      (default ``False``).
    * ``pool_size`` / ``HEXALCHEMY_POOL_SIZE`` -- connections kept open, from 1 to
      :data:`MAX_POOL_CONNECTIONS` (1000).
    * ``max_overflow`` / ``HEXALCHEMY_MAX_OVERFLOW`` -- connections opened beyond
      ``pool_size`` under load, from 0 to :data:`MAX_POOL_CONNECTIONS`; -1 means unlimited.
    * ``pool_timeout`` / ``HEXALCHEMY_POOL_TIMEOUT`` -- seconds to wait for a free
      connection before giving up, greater than 0 and at most a year.
    * ``pool_recycle`` / ``HEXALCHEMY_POOL_RECYCLE`` -- replace connections older than
      this many seconds, at least 0; -1 means never.
    * ``pool_pre_ping`` / ``HEXALCHEMY_POOL_PRE_PING`` -- test each connection when it
      is checked out and replace it if it is dead (default ``False``).
    * ``sqlite_busy_timeout`` / ``HEXALCHEMY_SQLITE_BUSY_TIMEOUT`` -- seconds a SQLite
      connection waits for another writer's lock before failing with
      :class:`~hexalchemy.ports.errors.DatabaseBusyError` (default 5.0; ignored by
      PostgreSQL).

    The object is immutable; derive a changed copy with :meth:`with_url` or
    ``attrs.evolve(config, pool_size=10)``, which validates the new values too. The
    ``repr`` hides the URL's password.
    """

    url: str = attrs.field(converter=_check_url, repr=_url_repr)
    """The database URL (``postgresql://`` normalised to ``postgresql+psycopg://``)."""
    echo: bool = attrs.field(default=False, validator=_validate_bool)
    """Log every statement (SQLAlchemy's ``echo``)."""
    echo_pool: bool = attrs.field(default=False, validator=_validate_bool)
    """Log pool events (SQLAlchemy's ``echo_pool``)."""
    pool_size: int | None = attrs.field(
        default=None, validator=_int_at_least(1, maximum=MAX_POOL_CONNECTIONS)
    )
    """Connections kept open; ``None`` for SQLAlchemy's default."""
    max_overflow: int | None = attrs.field(
        default=None, validator=_int_at_least(-1, " (-1 means unlimited)", maximum=MAX_POOL_CONNECTIONS)
    )
    """Extra connections allowed under load, -1 for unlimited; ``None`` for the default."""
    pool_timeout: float | None = attrs.field(default=None, validator=_validate_pool_timeout)
    """Seconds to wait for a free connection; ``None`` for SQLAlchemy's default."""
    pool_recycle: int | None = attrs.field(default=None, validator=_int_at_least(-1, " (-1 means never)"))
    """Maximum connection age in seconds, -1 for never; ``None`` for the default."""
    pool_pre_ping: bool = attrs.field(default=False, validator=_validate_bool)
    """Test connections on checkout (SQLAlchemy's ``pool_pre_ping``)."""
    sqlite_busy_timeout: float = attrs.field(default=5.0, validator=_validate_busy_timeout)
    """Seconds a SQLite connection waits for a lock (``PRAGMA busy_timeout``)."""

    def with_url(self, url: str) -> DatabaseConfig:
        """Return a copy of this configuration with another URL (validated like the original).

        Other options can be changed the same way with ``attrs.evolve(config, name=value)``.
        """
        return attrs.evolve(self, url=url)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = DEFAULT_ENV_PREFIX
    ) -> DatabaseConfig:
        """Read the configuration from environment variables (``os.environ`` by default).

        With the default prefix the variables are ``HEXALCHEMY_DATABASE_URL`` (required),
        ``HEXALCHEMY_ECHO``, ``HEXALCHEMY_ECHO_POOL``, ``HEXALCHEMY_POOL_SIZE``,
        ``HEXALCHEMY_MAX_OVERFLOW``, ``HEXALCHEMY_POOL_TIMEOUT``,
        ``HEXALCHEMY_POOL_RECYCLE``, ``HEXALCHEMY_POOL_PRE_PING`` and
        ``HEXALCHEMY_SQLITE_BUSY_TIMEOUT``; see the class documentation for their
        meaning. An unset variable means the default. Booleans are ``true``/``false``,
        ``1``/``0``, ``yes``/``no`` or ``on``/``off`` in any case; numbers are written
        with ASCII decimal digits (``10``, ``2.5``: no other scripts' digits, no ``_``
        separators, no ``nan``); surrounding whitespace is ignored; an empty value is an
        error (unset the variable instead).

        Any other variable whose name starts with ``prefix`` (compared case-insensitively)
        is an error, so a misspelt option is reported rather than silently ignored; the
        pytest plugin's own variables, under ``TEST_ENV_PREFIX``, are left alone.

        Raises:
            ConfigError: naming the environment variable and its value (a URL's password
                is hidden) for a missing URL, an unknown variable or a bad value.
        """
        if not is_instance(prefix, str) or not prefix:
            raise ConfigError("prefix", prefix, "must be a non-empty str")
        if environ is not None and not is_instance(environ, Mapping):
            raise ConfigError(
                "environ", environ, "must be a mapping of str to str (like os.environ), or None"
            )
        env: Mapping[str, str] = os.environ if environ is None else environ
        for name, value in env.items():
            if not is_instance(name, str) or not is_instance(value, str):
                raise ConfigError("environ", {name: value}, "must map str names to str values")
        options = {prefix + option.env_suffix: option for option in _OPTIONS}

        folded_prefix = prefix.casefold()
        for name in sorted(env):
            if (
                name.casefold().startswith(folded_prefix)
                and name not in options
                and not name.startswith(TEST_ENV_PREFIX)
            ):
                raise ConfigError(
                    name,
                    _redact_url(env[name]),
                    f"unknown option; known options are {', '.join(options)} (names are case-sensitive)",
                )

        url_name = prefix + _URL_OPTION.env_suffix
        if url_name not in env:
            raise ConfigError(url_name, None, "required: set it to the database URL")

        kwargs: dict[str, Any] = {}
        for name, option in options.items():
            raw = env.get(name)
            if raw is not None:
                kwargs[option.attribute] = option.parse(name, raw)
        try:
            return cls(**kwargs)
        except ConfigError as error:
            name = prefix + _OPTIONS_BY_ATTRIBUTE[error.option].env_suffix
            raise ConfigError(name, _redact_url(env[name]), error.reason) from error


# --- the option table: the one list of options, their variables and parsers -------------


def _stripped(name: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ConfigError(name, raw, "empty value; unset the variable to use the default")
    return value


def _parse_str(name: str, raw: str) -> str:
    return _stripped(name, raw)


def _parse_bool(name: str, raw: str) -> bool:
    value = _stripped(name, raw).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(name, raw, "not a boolean; use true/false, 1/0, yes/no or on/off")


def _parse_int(name: str, raw: str) -> int:
    value = parse_decimal_int(_stripped(name, raw))
    if value is None:
        raise ConfigError(name, raw, "not an integer (ASCII decimal digits, as in 10)")
    return value


def _parse_float(name: str, raw: str) -> float:
    value = parse_decimal_float(_stripped(name, raw))
    if value is None:
        raise ConfigError(name, raw, "not a number (ASCII decimal notation, as in 2.5)")
    return value


@attrs.frozen
class _Option:
    attribute: str
    env_suffix: str
    parse: Callable[[str, str], object]


_URL_OPTION: Final = _Option("url", "DATABASE_URL", _parse_str)

_OPTIONS: Final = (
    _URL_OPTION,
    _Option("echo", "ECHO", _parse_bool),
    _Option("echo_pool", "ECHO_POOL", _parse_bool),
    _Option("pool_size", "POOL_SIZE", _parse_int),
    _Option("max_overflow", "MAX_OVERFLOW", _parse_int),
    _Option("pool_timeout", "POOL_TIMEOUT", _parse_float),
    _Option("pool_recycle", "POOL_RECYCLE", _parse_int),
    _Option("pool_pre_ping", "POOL_PRE_PING", _parse_bool),
    _Option("sqlite_busy_timeout", "SQLITE_BUSY_TIMEOUT", _parse_float),
)

_OPTIONS_BY_ATTRIBUTE: Final = {option.attribute: option for option in _OPTIONS}
