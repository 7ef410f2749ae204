"""Database engine and schema migrations.

SQLite file ``./realname.db`` by default; PostgreSQL (or another SQLAlchemy URL)
through ``REALNAME_DATABASE_URL``. The schema is created and evolved only by the
Alembic migrations in ``scanner/migrations``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///realname.db"
MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("REALNAME_DATABASE_URL") or DEFAULT_URL


class DatabaseError(Exception):
    """A database that cannot be opened; the message names the path or URL and why."""


def check_sqlite_path(url: str) -> None:
    """For a SQLite file URL, say plainly why the file cannot be a database (a folder, a missing
    folder, no write permission) before SQLAlchemy says only "unable to open database file"."""
    make = make_url(url)
    if make.get_backend_name() != "sqlite" or not make.database or make.database == ":memory:":
        return
    path = Path(make.database)
    if path.is_dir():
        raise DatabaseError(f"{path}: is a folder, not a database file (give a file path, e.g. {path / 'realname.db'})")
    if not path.parent.is_dir():
        raise DatabaseError(f"{path}: its folder {path.parent} does not exist")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise DatabaseError(f"{path}: cannot read and write this file (permissions)")
    if not path.exists() and not os.access(path.parent, os.W_OK):
        raise DatabaseError(f"{path}: cannot create the database in {path.parent} (permissions)")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


# JSON columns (measurements, findings' evidence) go through orjson: a re-judge of
# the whole base reads and writes millions of them.
_JSON = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}
# A statement's parameters hold full mobile and ID numbers: database errors never show them.
_OPTIONS: dict[str, Any] = {**_JSON, "hide_parameters": True}


# One engine per URL and kind for the life of the process (each holds a connection pool).
_ENGINES: dict[tuple[str, str], Engine] = {}


def dialect_insert(conn: Connection, table: Any) -> Any:
    """``table``'s INSERT in the connection's own dialect, which has ``on_conflict_do_nothing``
    (PostgreSQL's; SQLite's for the rest). The dialect modules are loaded here, when a command
    writes, not when it starts."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def engine_for(url: str) -> Engine:
    engine = _ENGINES.get(("read", url))
    if engine is None:
        engine = _ENGINES[("read", url)] = _create(url)
    return engine


def _create(url: str) -> Engine:
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"timeout": 30}, **_OPTIONS)
        event.listen(eng, "connect", _sqlite_pragmas)
        return eng
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **_OPTIONS)


def _begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def write_engine_for(url: str) -> Engine:
    """The engine for short read-modify-write transactions (the notice queue, case
    advances). On SQLite each transaction starts with ``BEGIN IMMEDIATE``, taking the
    write lock before it reads, so two processes never decide from the same rows;
    elsewhere it is the ordinary engine (PostgreSQL locks rows with ``FOR UPDATE``)."""
    if not url.startswith("sqlite"):
        return engine_for(url)
    engine = _ENGINES.get(("write", url))
    if engine is None:
        engine = _ENGINES[("write", url)] = create_engine(url, connect_args={"timeout": 30}, **_OPTIONS)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not the sqlite3 module, say when a transaction begins.
        event.listen(engine, "connect", lambda dbapi_conn, _record: setattr(dbapi_conn, "isolation_level", None))
        event.listen(engine, "begin", _begin_immediate)
    return engine


def dispose_engines() -> None:
    """Close the connections of every engine made so far and forget them (a test's database is about
    to be dropped, say)."""
    engines = list(_ENGINES.values())
    _ENGINES.clear()
    for engine in engines:
        engine.dispose()


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%': URL-encoded passwords and options need it doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _alembic(action: Callable[[Config, str], None], url: str | None, revision: str) -> None:
    url = database_url(url)
    with engine_for(url).begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        action(cfg, revision)


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the schema at ``url`` up to ``revision`` (idempotent)."""
    from alembic import command

    _alembic(command.upgrade, url, revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    from alembic import command

    _alembic(command.downgrade, url, revision)


@cache
def newest_revision() -> str:
    """The newest migration's revision id, read from the migration files (without loading Alembic)."""
    revisions = []
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = re.search(r'^revision = "([^"]+)"', script.read_text(encoding="utf-8"), re.M)
        if found:
            revisions.append(found.group(1))
    return max(revisions)


def _at_newest(url: str) -> bool:
    """Whether the schema at ``url`` is already at the newest revision (one small query)."""
    try:
        with engine_for(url).connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        return False  # no schema yet, or no version table: let the migration say what it finds
    return current == newest_revision()


def open_engine(url: str | None = None, migrate: bool = True) -> Engine:
    """The engine for ``url``, with the schema migrated to the newest revision."""
    url = database_url(url)
    check_sqlite_path(url)
    if migrate and not _at_newest(url):  # Alembic is loaded only when there is something to migrate
        upgrade(url)
    return engine_for(url)
