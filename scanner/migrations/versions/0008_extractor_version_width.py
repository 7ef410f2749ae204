"""measurement.extractor_version up to 400 characters: the version names each measurement part, and a
fifth part (hands) made it longer than 100

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measurement") as batch:
        batch.alter_column(
            "extractor_version",
            existing_type=sa.String(length=100),
            type_=sa.String(length=400),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("measurement") as batch:
        batch.alter_column(
            "extractor_version",
            existing_type=sa.String(length=400),
            type_=sa.String(length=100),
            existing_nullable=False,
        )
