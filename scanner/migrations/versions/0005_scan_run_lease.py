"""scan run lease: the process working on a run and its heartbeat

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scan_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_holder", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("lease_process_started", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("lease_taken_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_run", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("lease_taken_at")
        batch_op.drop_column("lease_process_started")
        batch_op.drop_column("lease_holder")
