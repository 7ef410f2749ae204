"""subscriber.person_key: the 17 digits naming the person in either form of their ID number (15-digit
legacy or 18-digit), indexed, so that the numbers held per person are counted in one grouped query

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_18 = re.compile(r"^[0-9]{17}[0-9X]$")
_15 = re.compile(r"^[0-9]{15}$")
BATCH = 5000


def _key(number: str) -> str | None:
    # The rule of checks.idcard.person_key as of this revision, kept here so the migration never changes.
    value = re.sub(r"\s+", "", number or "").upper()
    if _18.match(value):
        return value[:17]
    if _15.match(value):
        return value[:6] + "19" + value[6:]
    return None


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("person_key", sa.String(length=17), nullable=True))
    conn = op.get_bind()
    subscriber = sa.table("subscriber", sa.column("id", sa.Integer), sa.column("id_number", sa.String),
                          sa.column("person_key", sa.String))  # fmt: skip
    last = 0
    while True:
        rows = conn.execute(
            sa.select(subscriber.c.id, subscriber.c.id_number)
            .where(subscriber.c.id > last)
            .order_by(subscriber.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        keyed = [{"row_id": r.id, "key": key} for r in rows if (key := _key(r.id_number)) is not None]
        if keyed:
            conn.execute(
                subscriber.update()
                .where(subscriber.c.id == sa.bindparam("row_id"))
                .values(person_key=sa.bindparam("key")),
                keyed,
            )
        last = rows[-1].id
    op.create_index("ix_subscriber_person_key", "subscriber", ["person_key"])


def downgrade() -> None:
    op.drop_index("ix_subscriber_person_key", table_name="subscriber")
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("person_key")
