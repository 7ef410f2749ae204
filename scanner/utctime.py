"""Times in the database: always aware and in UTC.

``UtcDateTime`` is the column type of every time the enforcement tables keep, and ``utcnow`` the
default of the "created at" columns. Both the SQLModel models and the Core tables generated from
them (``scanner.tables``) use these, so this module imports nothing but SQLAlchemy's type system.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Dialect, TypeDecorator


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC time on every database: stored as UTC (SQLite keeps no zone, so its
    text compares in time order) and read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("times are stored in UTC and must carry a time zone")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
