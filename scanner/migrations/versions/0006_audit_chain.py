"""audit chain: one hash-chained audit log, findings digests per shard, append-only triggers

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

The existing ``audit_event`` rows are chained in the order they were written (time, then id), their
detail rewritten in the canonical form (keys sorted), so ``realname audit verify`` can check them.
UPDATE and DELETE on ``audit_event`` and ``case_transition`` are refused by triggers (PostgreSQL and
SQLite); a database superuser can still disable them, which ``audit verify`` then catches.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

from scanner.audit.chain import GENESIS, at_text, canonical_detail, content, digest
from scanner.utctime import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_event", "case_transition")


def _chain_existing() -> None:
    table = sa.table(
        "audit_event",
        sa.column("id", sa.Integer()),
        sa.column("at", UtcDateTime()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("subject", sa.String()),
        sa.column("detail", sa.JSON()),
        sa.column("seq", sa.Integer()),
        sa.column("prev_digest", sa.String()),
        sa.column("digest", sa.String()),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(table).order_by(table.c.at, table.c.id)).all()
    prev = GENESIS
    for seq, row in enumerate(rows, start=1):
        detail_json = canonical_detail(row.detail or {})
        row_digest = digest(prev, content(seq, at_text(row.at), row.actor, row.action, row.subject, None, detail_json))
        conn.execute(
            sa.update(table)
            .where(table.c.id == row.id)
            .values(seq=seq, prev_digest=prev, digest=row_digest, detail=orjson.loads(detail_json))
        )
        prev = row_digest


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("subscriber_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("scan_shard", schema=None) as batch_op:
        batch_op.add_column(sa.Column("findings_digest", sa.String(length=64), nullable=True))
    _chain_existing()
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_digest", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("digest", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_audit_event_seq"), ["seq"], unique=True)
        batch_op.create_index(batch_op.f("ix_audit_event_subscriber_id"), ["subscriber_id"], unique=False)
    _create_triggers()


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION realname_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% on % refused: the audit trail is append-only', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION realname_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION realname_append_only()"
            )
    elif op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{verb} on {table} refused: the audit trail is append-only'); END"
                )


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS realname_append_only()")
    elif op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def downgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_subscriber_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_seq"))
        batch_op.drop_column("digest")
        batch_op.drop_column("prev_digest")
        batch_op.drop_column("subscriber_id")
        batch_op.drop_column("seq")
    with op.batch_alter_table("scan_shard", schema=None) as batch_op:
        batch_op.drop_column("findings_digest")
