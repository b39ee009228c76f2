from __future__ import annotations

import math
import re
from typing import Any, Final

import attrs
import pytest

from hexalchemy.ports.errors import ConfigError
from hexalchemy.pytest_plugin._plugin import MARIADB_URL_VARIABLE, POSTGRESQL_URL_VARIABLE
from hexalchemy.sqlalchemy import create_async_engine, create_engine
from hexalchemy.sqlalchemy.config import _OPTIONS, SUPPORTED_DRIVERS, DatabaseConfig
from tests.mariadb import MARIADB_URL, without_mariadb
from tests.postgresql import POSTGRESQL_URL, without_postgresql

SQLITE_URL = "sqlite:///app.db"


def build(**options: Any) -> DatabaseConfig:
    """Call the constructor with values of any type, to test its validation."""
    return DatabaseConfig(**options)


def env(**variables: str) -> dict[str, str]:
    """An environment with a valid URL plus ``variables`` (names without the prefix)."""
    result = {"HEXALCHEMY_DATABASE_URL": SQLITE_URL}
    result.update({f"HEXALCHEMY_{name}": value for name, value in variables.items()})
    return result


# --- construction and validation ------------------------------------------------------------


def test_defaults() -> None:
    config = DatabaseConfig(url=SQLITE_URL)
    assert config.url == SQLITE_URL
    assert config.echo is False
    assert config.echo_pool is False
    assert config.pool_size is None
    assert config.max_overflow is None
    assert config.pool_timeout is None
    assert config.pool_recycle is None
    assert config.pool_pre_ping is False
    assert config.sqlite_busy_timeout == 5.0


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "sqlite:///app.db",
        "sqlite:////tmp/app.db",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+pysqlite:///app.db",
        "sqlite+aiosqlite:///app.db",
        "sqlite:///app.db?timeout=3&check_same_thread=false",
        "sqlite:///file:app.db?mode=ro&uri=true",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test?application_name=billing&sslmode=disable",
        "postgresql+psycopg://h/db?connect_timeout=%205&keepalives=1&target_session_attrs=read-write"
        "&ssl_min_protocol_version=tlsv1.2&ssl_max_protocol_version=&require_auth=%21password,%21md5"
        "&hostaddr=127.0.0.1,::1&host=a,b&port=5432,&gssencmode=disable&application_name=a%0Ab",
        "mariadb+pymysql://u@h/db?charset=utf8mb4&connect_timeout=5&local_infile=false&ssl_ca=/etc/ca.pem",
    ],
)
def test_supported_urls_are_kept_as_given(url: str) -> None:
    assert DatabaseConfig(url=url).url == url


def test_plain_postgresql_is_normalised_to_psycopg() -> None:
    config = DatabaseConfig(url="postgresql://user:p%40ss@db.example:5433/app?sslmode=require")
    assert config.url == "postgresql+psycopg://user:p%40ss@db.example:5433/app?sslmode=require"


def test_plain_mariadb_is_normalised_to_pymysql() -> None:
    config = DatabaseConfig(url="mariadb://user:p%40ss@db.example:3307/app")
    assert config.url == "mariadb+pymysql://user:p%40ss@db.example:3307/app"
    assert DatabaseConfig(url="mariadb+aiomysql://db/app").url == "mariadb+aiomysql://db/app"


def test_a_mysql_url_is_refused_with_the_mariadb_hint() -> None:
    with pytest.raises(ConfigError, match="mariadb means mariadb\\+pymysql"):
        DatabaseConfig(url="mysql+pymysql://db/app")


def test_supported_drivers_constant() -> None:
    assert {
        "postgresql+psycopg",
        "sqlite",
        "sqlite+pysqlite",
        "sqlite+aiosqlite",
        "mariadb+pymysql",
        "mariadb+aiomysql",
    } == SUPPORTED_DRIVERS


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://u@h/db", "unsupported database driver 'mysql'"),
        ("postgresql+psycopg2://u@h/db", "unsupported database driver 'postgresql+psycopg2'"),
        ("postgresql+asyncpg://u@h/db", "unsupported database driver 'postgresql+asyncpg'"),
        ("postgres://u@h/db", "unsupported database driver 'postgres'"),
        ("not a url", "not a database URL"),
        ("postgresql://u@h:abc/db", "port must be a number from 1 to 65535"),
        ("postgresql://u@h:0/db", "port must be a number from 1 to 65535"),
        ("postgresql://u@h:65536/db", "port must be a number from 1 to 65535"),
        ("", "not a database URL"),
        ("sqlite://user@host/app.db", "a SQLite URL names a file"),
        ("postgresql://u@h/db?pool_size=5", "'pool_size', which is not a libpq connection parameter"),
        ("postgresql://u@h/db?sslmod=require", "'sslmod', which is not a libpq connection parameter"),
        (
            "postgresql://u@h/db?sslmode=bogus",
            "'sslmode' must be one of disable, allow, prefer, require, verify-ca",
        ),
        ("postgresql://u@h/db?sslmode=REQUIRE", "'sslmode' must be one of"),
        ("postgresql://u@h/db?sslmode=require&sslmode=disable", "gives 'sslmode' 2 times"),
        ("postgresql://u@h/db?gssencmode=always", "'gssencmode' must be one of disable, prefer, require"),
        ("postgresql://u@h/db?channel_binding=x", "'channel_binding' must be one of"),
        (
            "postgresql://u@h/db?target_session_attrs=master",
            "'target_session_attrs' must be one of any, read-write",
        ),
        ("postgresql://u@h/db?load_balance_hosts=yes", "'load_balance_hosts' must be one of"),
        ("postgresql://u@h/db?sslcertmode=x", "'sslcertmode' must be one of"),
        ("postgresql://u@h/db?sslnegotiation=x", "'sslnegotiation' must be one of"),
        (
            "postgresql://u@h/db?ssl_min_protocol_version=TLSv9",
            "'ssl_min_protocol_version' must be one of TLSv1",
        ),
        ("postgresql://u@h/db?connect_timeout=abc", "'connect_timeout' must be a whole number"),
        ("postgresql://u@h/db?connect_timeout=%D9%A3", "'connect_timeout' must be a whole number"),
        ("postgresql://u@h/db?keepalives_idle=1.5", "'keepalives_idle' must be a whole number"),
        ("postgresql://u@h/db?tcp_user_timeout=99999999999", "'tcp_user_timeout' must be a whole number"),
        ("postgresql://u@h/db?port=0", "'port' must be a port number"),
        ("postgresql://u@h/db?host=a,b&port=5432,x", "'port' must be a port number"),
        ("postgresql://u@h/db?hostaddr=db.example", "'hostaddr' must be a numeric IP address"),
        ("postgresql://u@h/db?require_auth=md5,!password", "either all prefixed with '!' or none"),
        ("postgresql://u@h/db?require_auth=kerberos", "lists 'kerberos'"),
        ("postgresql://u@h/db\n", "holds the control character '\\n' at index 19: a URL is one line"),
        ("sqlite:///app\t.db", "holds the control character '\\t'"),
        ("sqlite:///app.db?foo=1", "'foo', which SQLite's driver does not take"),
        ("sqlite:///app.db?mode=ro", "SQLite URI parameters need uri=true"),
        ("mariadb://u@h/db?pool_size=5", "'pool_size', which is not a connection argument of both PyMySQL"),
        ("mariadb://u@h/db?read_timeout=5", "'read_timeout', which is not a connection argument of both"),
        ("mariadb://u@h/db?sql_mode=ANSI", "'sql_mode', which hexalchemy sets on every connection"),
        ("mariadb://u@h/db?autocommit=true", "'autocommit', which hexalchemy sets"),
        ("mariadb://u@h/db?connect_timeout=ten", "'connect_timeout' must be a whole number, not 'ten'"),
        ("mariadb://u@h/db?use_unicode=maybe", "'use_unicode' must be true or false"),
        ("mariadb://u@h/db?charset=utf8mb4&charset=latin1", "gives 'charset' 2 times"),
    ],
)
def test_bad_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig(url=url)
    assert caught.value.option == "url"
    assert reason in caught.value.reason


def test_url_must_be_a_string() -> None:
    with pytest.raises(ConfigError) as caught:
        build(url=42)
    assert caught.value.option == "url"


def test_password_is_hidden_in_errors_and_repr() -> None:
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig(url="mysql://user:s3cret@host/db")
    assert "s3cret" not in str(caught.value)
    assert caught.value.value == "mysql://user:***@host/db"

    config = DatabaseConfig(url="postgresql+psycopg://user:s3cret@host/db")
    assert "s3cret" not in repr(config)
    assert "postgresql+psycopg://user:***@host/db" in repr(config)
    assert config.url == "postgresql+psycopg://user:s3cret@host/db"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("pool_size", 1),
        ("pool_size", 50),
        ("pool_size", 1000),
        ("max_overflow", 1000),
        ("max_overflow", -1),
        ("max_overflow", 0),
        ("max_overflow", 20),
        ("pool_timeout", 0.001),
        ("pool_timeout", 30),
        ("pool_recycle", -1),
        ("pool_recycle", 0),
        ("pool_recycle", 3600),
        ("sqlite_busy_timeout", 0),
        ("sqlite_busy_timeout", 0.25),
        ("echo", True),
        ("echo_pool", True),
        ("pool_pre_ping", True),
    ],
)
def test_good_values_are_accepted(option: str, value: object) -> None:
    config = build(url=SQLITE_URL, **{option: value})
    assert getattr(config, option) == value


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("pool_size", 0, "at least 1"),
        ("pool_size", -3, "at least 1"),
        ("pool_size", 2.5, "integer"),
        ("pool_size", "5", "integer"),
        ("pool_size", True, "integer"),
        ("pool_size", 1001, "at most 1000 connections"),
        ("pool_size", 2**63, "at most 1000 connections"),
        ("max_overflow", 1001, "at most 1000 connections"),
        ("max_overflow", -2, "at least -1"),
        ("max_overflow", 1.0, "integer"),
        ("pool_timeout", 0, "greater than 0"),
        ("pool_timeout", -1.5, "greater than 0"),
        ("pool_timeout", math.nan, "finite"),
        ("pool_timeout", math.inf, "finite"),
        ("pool_timeout", "30", "finite"),
        ("pool_timeout", False, "finite"),
        ("pool_timeout", 1e300, "at most 31536000 seconds"),
        ("pool_recycle", -2, "at least -1"),
        ("pool_recycle", 60.0, "integer"),
        ("sqlite_busy_timeout", -0.5, "at least 0"),
        ("sqlite_busy_timeout", math.inf, "finite"),
        ("sqlite_busy_timeout", math.nan, "finite"),
        ("sqlite_busy_timeout", 10**9, "at most"),
        ("sqlite_busy_timeout", None, "finite"),
        ("echo", 1, "bool"),
        ("echo", "true", "bool"),
        ("echo_pool", None, "bool"),
        ("pool_pre_ping", 0, "bool"),
    ],
)
def test_bad_values_are_refused(option: str, value: object, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(url=SQLITE_URL, **{option: value})
    assert caught.value.option == option
    assert caught.value.value is value
    assert reason in caught.value.reason


def test_config_is_immutable() -> None:
    config = DatabaseConfig(url=SQLITE_URL)
    attribute = "pool_size"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(config, attribute, 3)


def test_config_is_a_value() -> None:
    assert DatabaseConfig(url=SQLITE_URL, pool_size=3) == DatabaseConfig(url=SQLITE_URL, pool_size=3)
    assert hash(DatabaseConfig(url=SQLITE_URL)) == hash(DatabaseConfig(url=SQLITE_URL))


def test_with_url_keeps_other_options_and_validates() -> None:
    config = DatabaseConfig(url=SQLITE_URL, pool_size=7, echo=True)
    changed = config.with_url("postgresql://u@h/db")
    assert changed.url == "postgresql+psycopg://u@h/db"
    assert (changed.pool_size, changed.echo) == (7, True)
    assert config.url == SQLITE_URL
    with pytest.raises(ConfigError):
        config.with_url("mysql://u@h/db")


def test_evolve_validates() -> None:
    config = DatabaseConfig(url=SQLITE_URL)
    assert attrs.evolve(config, pool_size=2).pool_size == 2
    with pytest.raises(ConfigError) as caught:
        attrs.evolve(config, pool_size=0)
    assert caught.value.option == "pool_size"


# --- from_env -------------------------------------------------------------------------------


def test_from_env_minimal() -> None:
    assert DatabaseConfig.from_env(env()) == DatabaseConfig(url=SQLITE_URL)


def test_from_env_reads_every_option() -> None:
    config = DatabaseConfig.from_env(
        {
            "HEXALCHEMY_DATABASE_URL": "postgresql://u@h/db",
            "HEXALCHEMY_ECHO": "true",
            "HEXALCHEMY_ECHO_POOL": "yes",
            "HEXALCHEMY_POOL_SIZE": "12",
            "HEXALCHEMY_MAX_OVERFLOW": "-1",
            "HEXALCHEMY_POOL_TIMEOUT": "2.5",
            "HEXALCHEMY_POOL_RECYCLE": "1800",
            "HEXALCHEMY_POOL_PRE_PING": "on",
            "HEXALCHEMY_SQLITE_BUSY_TIMEOUT": "0.75",
            "PATH": "/usr/bin",
            "DATABASE_URL": "ignored: no prefix",
        }
    )
    assert config == DatabaseConfig(
        url="postgresql+psycopg://u@h/db",
        echo=True,
        echo_pool=True,
        pool_size=12,
        max_overflow=-1,
        pool_timeout=2.5,
        pool_recycle=1800,
        pool_pre_ping=True,
        sqlite_busy_timeout=0.75,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        ("on", True),
        ("ON", True),
        (" true\n", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("NO", False),
        ("off", False),
        ("Off", False),
    ],
)
def test_from_env_booleans(raw: str, expected: bool) -> None:
    config = DatabaseConfig.from_env(env(ECHO=raw, ECHO_POOL=raw, POOL_PRE_PING=raw))
    assert (config.echo, config.echo_pool, config.pool_pre_ping) == (expected, expected, expected)


def test_from_env_strips_whitespace() -> None:
    config = DatabaseConfig.from_env(
        {"HEXALCHEMY_DATABASE_URL": f"  {SQLITE_URL}\n", "HEXALCHEMY_POOL_SIZE": " 4 "}
    )
    assert (config.url, config.pool_size) == (SQLITE_URL, 4)


def test_from_env_requires_the_url() -> None:
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig.from_env({"HEXALCHEMY_ECHO": "true"})
    assert caught.value.option == "HEXALCHEMY_DATABASE_URL"
    assert "required" in caught.value.reason
    assert "HEXALCHEMY_DATABASE_URL" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("ECHO", "maybe", "not a boolean"),
        ("ECHO_POOL", "2", "not a boolean"),
        ("POOL_PRE_PING", "", "empty value"),
        ("POOL_SIZE", "five", "not an integer"),
        ("POOL_SIZE", "5.0", "not an integer"),
        ("POOL_SIZE", "0", "at least 1"),
        ("POOL_SIZE", "50000", "at most 1000 connections"),
        ("POOL_SIZE", "   ", "empty value"),
        ("MAX_OVERFLOW", "-2", "at least -1"),
        ("POOL_TIMEOUT", "soon", "not a number"),
        ("POOL_TIMEOUT", "0", "greater than 0"),
        ("POOL_TIMEOUT", "nan", "not a number"),
        ("POOL_TIMEOUT", "inf", "not a number"),
        ("POOL_TIMEOUT", "\uff15", "not a number"),
        ("POOL_SIZE", "\uff15", "not an integer"),
        ("POOL_SIZE", "\u0663", "not an integer"),
        ("POOL_SIZE", "1_000", "not an integer"),
        ("DATABASE_URL", "postgresql://h:abc/db", "port"),
        ("POOL_RECYCLE", "1h", "not an integer"),
        ("POOL_RECYCLE", "-5", "at least -1"),
        ("SQLITE_BUSY_TIMEOUT", "-1", "at least 0"),
        ("SQLITE_BUSY_TIMEOUT", "x", "not a number"),
        ("DATABASE_URL", "mysql://u@h/db", "unsupported database driver"),
        ("DATABASE_URL", "", "empty value"),
    ],
)
def test_from_env_errors_name_the_variable_and_raw_value(name: str, raw: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig.from_env(env(**{name: raw}))
    assert caught.value.option == f"HEXALCHEMY_{name}"
    assert caught.value.value == raw
    assert reason in caught.value.reason
    assert f"HEXALCHEMY_{name}={raw!r}" in str(caught.value)


def test_from_env_hides_the_url_password() -> None:
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig.from_env({"HEXALCHEMY_DATABASE_URL": "mysql://u:s3cret@h/db"})
    assert caught.value.option == "HEXALCHEMY_DATABASE_URL"
    assert caught.value.value == "mysql://u:***@h/db"
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("name", ["HEXALCHEMY_POOLSIZE", "HEXALCHEMY_URL", "HEXALCHEMY_", "hexalchemy_echo"])
def test_from_env_refuses_unknown_options(name: str) -> None:
    environ = env()
    environ[name] = "1"
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig.from_env(environ)
    assert caught.value.option == name
    assert caught.value.value == "1"
    assert caught.value.reason.startswith("unknown option; known options are ")
    assert "HEXALCHEMY_POOL_SIZE" in caught.value.reason


def test_from_env_leaves_the_pytest_plugins_variables_alone() -> None:
    environ = env()
    environ[POSTGRESQL_URL_VARIABLE] = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    environ[MARIADB_URL_VARIABLE] = "mariadb+pymysql://root@127.0.0.1:3306/test"
    assert DatabaseConfig.from_env(environ) == DatabaseConfig.from_env(env())


def test_from_env_custom_prefix() -> None:
    environ = {
        "MYAPP_DB_DATABASE_URL": SQLITE_URL,
        "MYAPP_DB_POOL_SIZE": "3",
        "HEXALCHEMY_POOL_SIZE": "not read with another prefix",
        "MYAPP_OTHER": "not ours either",
    }
    config = DatabaseConfig.from_env(environ, prefix="MYAPP_DB_")
    assert config == DatabaseConfig(url=SQLITE_URL, pool_size=3)
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig.from_env(environ | {"MYAPP_DB_ECHOO": "1"}, prefix="MYAPP_DB_")
    assert caught.value.option == "MYAPP_DB_ECHOO"
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig.from_env(environ | {"MYAPP_DB_POOL_SIZE": "0"}, prefix="MYAPP_DB_")
    assert caught.value.option == "MYAPP_DB_POOL_SIZE"


def test_from_env_refuses_an_empty_prefix() -> None:
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig.from_env(env(), prefix="")
    assert caught.value.option == "prefix"


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.environ", {"HEXALCHEMY_DATABASE_URL": SQLITE_URL, "HEXALCHEMY_POOL_SIZE": "9"})
    assert DatabaseConfig.from_env() == DatabaseConfig(url=SQLITE_URL, pool_size=9)


# --- the option table, the attributes and the documentation agree ---------------------------


def test_option_table_covers_every_attribute_once() -> None:
    attributes = [field.name for field in attrs.fields(DatabaseConfig)]
    assert [option.attribute for option in _OPTIONS] == attributes
    suffixes = [option.env_suffix for option in _OPTIONS]
    assert len(set(suffixes)) == len(suffixes)


def test_every_option_is_documented() -> None:
    class_doc = DatabaseConfig.__doc__ or ""
    from_env_doc = DatabaseConfig.from_env.__doc__ or ""
    for option in _OPTIONS:
        variable = f"HEXALCHEMY_{option.env_suffix}"
        assert f"``{option.attribute}`` / ``{variable}``" in class_doc
        assert f"``{variable}``" in from_env_doc
    documented = set(re.findall(r"``HEXALCHEMY_(\w+)``", class_doc + from_env_doc))
    assert documented == {option.env_suffix for option in _OPTIONS}


def test_every_option_round_trips_through_the_environment() -> None:
    values = {
        "url": ("DATABASE_URL", "sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        "echo": ("ECHO", "1", True),
        "echo_pool": ("ECHO_POOL", "1", True),
        "pool_size": ("POOL_SIZE", "3", 3),
        "max_overflow": ("MAX_OVERFLOW", "4", 4),
        "pool_timeout": ("POOL_TIMEOUT", "5.5", 5.5),
        "pool_recycle": ("POOL_RECYCLE", "6", 6),
        "pool_pre_ping": ("POOL_PRE_PING", "1", True),
        "sqlite_busy_timeout": ("SQLITE_BUSY_TIMEOUT", "7.5", 7.5),
    }
    assert set(values) == {option.attribute for option in _OPTIONS}
    config = DatabaseConfig.from_env({f"HEXALCHEMY_{suffix}": raw for suffix, raw, _ in values.values()})
    assert {name: getattr(config, name) for name in values} == {
        name: expected for name, (_, _, expected) in values.items()
    }


@pytest.mark.parametrize(
    ("environ", "prefix", "named"),
    [
        (5, "HEXALCHEMY_", "environ"),
        ({1: 2}, "HEXALCHEMY_", "environ"),
        ({"HEXALCHEMY_DATABASE_URL": 5}, "HEXALCHEMY_", "environ"),
        ({}, 5, "prefix"),
        ({}, "", "prefix"),
    ],
)
def test_from_env_refuses_junk_arguments_naming_them(environ: Any, prefix: Any, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DatabaseConfig.from_env(environ, prefix=prefix)
    assert caught.value.option == named


async def test_the_query_arguments_both_mariadb_drivers_take_reach_them(mariadb_problem: str | None) -> None:
    if mariadb_problem is not None:
        without_mariadb(mariadb_problem)
    config = DatabaseConfig(url=f"{MARIADB_URL}?connect_timeout=7&program_name=hx-test&use_unicode=true")
    sync_engine = create_engine(config)
    async_engine = create_async_engine(config)
    try:
        with sync_engine.connect() as connection:
            assert "STRICT_ALL_TABLES" in connection.exec_driver_sql("SELECT @@session.sql_mode").scalar_one()
        async with async_engine.connect() as connection:
            assert (await connection.exec_driver_sql("SELECT 1")).scalar_one() == 1
    finally:
        sync_engine.dispose()
        await async_engine.dispose()


# libpq's own verdict on the values the URL check knows: each refused value is refused by libpq
# when it connects, and each accepted one (that this server can serve) connects.
_LIBPQ_REFUSES: Final = [
    "sslmode=bogus",
    "gssencmode=x",
    "channel_binding=x",
    "target_session_attrs=master",
    "load_balance_hosts=x",
    "sslcertmode=x",
    "sslnegotiation=x",
    "ssl_min_protocol_version=TLSv9",
    "require_auth=kerberos",
    "require_auth=md5,!password",
    "keepalives_idle=1.5",
    "hostaddr=db.example",
]
_LIBPQ_ACCEPTS: Final = [
    "sslmode=disable",
    "sslmode=allow",
    "sslmode=prefer",
    "gssencmode=disable",
    "gssencmode=prefer",
    "channel_binding=disable",
    "channel_binding=prefer",
    "target_session_attrs=any",
    "target_session_attrs=read-write",
    "target_session_attrs=primary",
    "target_session_attrs=prefer-standby",
    "load_balance_hosts=disable",
    "load_balance_hosts=random",
    "sslcertmode=disable",
    "sslcertmode=allow",
    "ssl_min_protocol_version=tlsv1.2",
    "connect_timeout=%205",
    "keepalives=1",
    "keepalives_idle=30",
    "require_auth=%21password,%21md5",
    "hostaddr=127.0.0.1",
]


@pytest.mark.parametrize("argument", _LIBPQ_REFUSES)
def test_a_libpq_value_the_url_check_refuses_is_one_libpq_refuses(argument: str) -> None:
    from urllib.parse import unquote

    import psycopg

    with pytest.raises(ConfigError, match=f"'{argument.split('=')[0]}'"):
        DatabaseConfig(url=f"postgresql://u@h/db?{argument}")
    # psycopg's URL form reaches libpq as given; libpq refuses it before any connection is made
    with pytest.raises(psycopg.OperationalError, match=r"invalid|could not parse|cannot be mixed"):
        psycopg.connect(f"host=127.0.0.1 port=1 connect_timeout=1 {unquote(argument)}").close()


@pytest.mark.parametrize("argument", _LIBPQ_ACCEPTS)
def test_a_libpq_value_the_url_check_accepts_connects(argument: str, postgresql_problem: str | None) -> None:
    if postgresql_problem is not None:
        without_postgresql(postgresql_problem)
    engine = create_engine(DatabaseConfig(url=f"{POSTGRESQL_URL}?{argument}"))
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        engine.dispose()
