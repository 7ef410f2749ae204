"""face_index and face_pair: the state of the face index kept beside the database, and the pairs of
measured faces found within its radius, so that one face under several ID numbers is found across
the base without searching it again every run

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scanner.utctime import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_index",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("searched_to", sa.Integer(), nullable=False),
        sa.Column("radius", sa.Float(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "face_pair",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("measurement_a", sa.Integer(), nullable=False),
        sa.Column("measurement_b", sa.Integer(), nullable=False),
        sa.Column("distance", sa.Float(), nullable=False),
        sa.UniqueConstraint("measurement_a", "measurement_b", name="uq_face_pair"),
    )
    op.create_index("ix_face_pair_distance", "face_pair", ["distance"])


def downgrade() -> None:
    op.drop_index("ix_face_pair_distance", table_name="face_pair")
    op.drop_table("face_pair")
    op.drop_table("face_index")
