"""review queue: reviewers, review items, decisions, web sessions; cases opened by a review

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("enforcement_case") as batch:
        batch.add_column(sa.Column("opened_by_review_id", sa.Integer(), nullable=True))
    op.create_table(
        "reviewer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        _at("locked_until"),
        _at("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("login"),
    )
    op.create_table(
        "review_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscriber.id"), nullable=False),
        sa.Column("active_subscriber_id", sa.Integer(), nullable=True),
        sa.Column("basis", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("finding_id", sa.Integer(), sa.ForeignKey("finding.id"), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("referred_by", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.Integer(), sa.ForeignKey("reviewer.id"), nullable=True),
        _at("assigned_at"),
        _at("lease_expires_at"),
        sa.Column("first_reviewer_id", sa.Integer(), nullable=True),
        sa.Column("first_reason", sa.String(length=40), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decision_reason", sa.String(length=40), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        _at("decided_at"),
        sa.Column("case_id", sa.Integer(), nullable=True),
        _at("created_at", nullable=False),
        _at("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("active_subscriber_id", name="uq_review_item_active_subscriber"),
        sa.UniqueConstraint("subscriber_id", "basis", name="uq_review_item_basis"),
    )
    op.create_index("ix_review_item_subscriber_id", "review_item", ["subscriber_id"])
    op.create_index("ix_review_item_assignee_id", "review_item", ["assignee_id"])
    op.create_index("ix_review_item_queue", "review_item", ["state", "created_at", "id"])
    op.create_table(
        "review_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("review_item.id"), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("reviewer.id"), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=False),
        _at("at", nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("shown", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_decision_item_id", "review_decision", ["item_id"])
    op.create_index("ix_review_decision_reviewer_id", "review_decision", ["reviewer_id"])
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("reviewer.id"), nullable=False),
        _at("created_at", nullable=False),
        _at("last_seen_at", nullable=False),
        _at("expires_at", nullable=False),
        _at("ended_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index("ix_web_session_reviewer_id", "web_session", ["reviewer_id"])


def downgrade() -> None:
    op.drop_table("web_session")
    op.drop_table("review_decision")
    op.drop_table("review_item")
    op.drop_table("reviewer")
    with op.batch_alter_table("enforcement_case") as batch:
        batch.drop_column("opened_by_review_id")
