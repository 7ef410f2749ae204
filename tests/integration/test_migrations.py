"""The Alembic migrations build exactly the schema the models (and the Core tables generated from
them) describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from scanner import db, tables

TABLES = {
    "subscriber",
    "photo",
    "scan_run",
    "scan_shard",
    "measurement",
    "finding",
    "enforcement_case",
    "case_transition",
    "notice",
    "hold",
    "audit_event",
    "case_sync",
    "remediation",
    "suspension_export",
    "reviewer",
    "review_item",
    "review_decision",
    "web_session",
    "face_index",
    "face_pair",
}


def _tables(url: str) -> set[str]:
    return set(inspect(db.engine_for(url)).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_table_and_matches_models(any_url: str) -> None:
    db.upgrade(any_url)
    assert _tables(any_url) == TABLES
    with db.engine_for(any_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
        core_diff = compare_metadata(context, tables.METADATA)
    assert diff == [], f"models and migrations disagree: {diff}"
    assert core_diff == [], f"scanner.tables and migrations disagree: {core_diff}"


def test_upgrade_is_idempotent_and_downgrade_removes_everything(any_url: str) -> None:
    db.upgrade(any_url)
    db.upgrade(any_url)
    assert _tables(any_url) == TABLES
    db.downgrade(any_url, "base")
    assert _tables(any_url) == set()
    db.upgrade(any_url)
    assert _tables(any_url) == TABLES


def test_version_recorded(any_url: str) -> None:
    db.upgrade(any_url)
    with db.engine_for(any_url).connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert current is not None and current == _head()


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
