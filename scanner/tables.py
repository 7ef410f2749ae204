"""The database tables as SQLAlchemy Core, for Core statements, without loading SQLModel.

Generated from ``scanner.models`` by ``python -m scanner.tablegen scanner/tables.py``
(``make tables``): do not edit; change the model and generate again. A test checks that this file
is what the models give.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from scanner.utctime import UtcDateTime, utcnow

METADATA = MetaData()

SUBSCRIBER = Table(
    "subscriber",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("msisdn", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("id_number", String(18), nullable=False),
    Column("id_legacy", Boolean(), nullable=False, default=False),
    Column("id_expires_on", Date()),
    Column("joined_on", Date(), nullable=False),
    Column("segment", String(32), nullable=False, default="consumer"),
    Column("region_code", String(6)),
    Column("source", String(500), nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False, default=utcnow),
    Column("updated_at", UtcDateTime(), nullable=False, default=utcnow),
    Index("ix_subscriber_account_id", "account_id", unique=True),
    Index("ix_subscriber_msisdn", "msisdn"),
    Index("ix_subscriber_region_code", "region_code"),
)

PHOTO = Table(
    "photo",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("subscriber_id", Integer(), ForeignKey("subscriber.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("uri", String(2000), nullable=False),
    Column("sha256", String(64)),
    Column("size_bytes", Integer()),
    Column("scanned_at", UtcDateTime()),
    Index("ix_photo_sha256", "sha256"),
    Index("ix_photo_subscriber_id", "subscriber_id"),
    UniqueConstraint("subscriber_id", "kind", name="uq_photo_subscriber_kind"),
)

SCAN_RUN = Table(
    "scan_run",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("policy_name", String(200), nullable=False),
    Column("policy_version", String(100), nullable=False),
    Column("policy_sha256", String(64), nullable=False),
    Column("policy_path", String(2000), nullable=False, default=""),
    Column("mode", String(16), nullable=False, default="enforce"),
    Column("as_of", Date(), nullable=False),
    Column("status", String(16), nullable=False, default="running"),
    Column("started_at", UtcDateTime(), nullable=False, default=utcnow),
    Column("finished_at", UtcDateTime()),
    Column("totals", JSON(), nullable=False),
    Column("options", JSON()),
    Column("lease_holder", String(300)),
    Column("lease_process_started", Float()),
    Column("lease_taken_at", UtcDateTime()),
    Column("heartbeat_at", UtcDateTime()),
)

SCAN_SHARD = Table(
    "scan_shard",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("run_id", Integer(), ForeignKey("scan_run.id"), nullable=False),
    Column("shard_no", Integer(), nullable=False),
    Column("first_subscriber_id", Integer(), nullable=False),
    Column("last_subscriber_id", Integer(), nullable=False),
    Column("subscribers", Integer(), nullable=False),
    Column("photos", Integer(), nullable=False),
    Column("measured", Integer(), nullable=False),
    Column("from_cache", Integer(), nullable=False),
    Column("unreadable", Integer(), nullable=False),
    Column("verdicts", JSON(), nullable=False),
    Column("reasons", JSON(), nullable=False),
    Column("seconds", Float(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=False, default=utcnow),
    Column("findings_digest", String(64)),
    Index("ix_scan_shard_run_id", "run_id"),
    UniqueConstraint("run_id", "shard_no", name="uq_scan_shard_run_no"),
)

MEASUREMENT = Table(
    "measurement",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("photo_sha256", String(64), nullable=False),
    Column("extractor_version", String(100), nullable=False),
    Column("values", JSON(), nullable=False),
    Column("descriptor", LargeBinary()),
    Column("created_at", UtcDateTime(), nullable=False, default=utcnow),
    Index("ix_measurement_photo_sha256", "photo_sha256"),
    UniqueConstraint("photo_sha256", "extractor_version", name="uq_measurement_sha_version"),
)

FINDING = Table(
    "finding",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("run_id", Integer(), ForeignKey("scan_run.id"), nullable=False),
    Column("subscriber_id", Integer(), ForeignKey("subscriber.id"), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("reasons", JSON(), nullable=False),
    Column("evidence", JSON(), nullable=False),
    Column("distances", JSON(), nullable=False),
    Column("policy_version", String(100), nullable=False),
    Column("preview", Boolean(), nullable=False, default=False),
    Column("created_at", UtcDateTime(), nullable=False, default=utcnow),
    Index("ix_finding_run_id", "run_id"),
    Index("ix_finding_subscriber_id", "subscriber_id"),
    Index("ix_finding_verdict", "verdict"),
    UniqueConstraint("run_id", "subscriber_id", name="uq_finding_run_subscriber"),
)

CASE = Table(
    "enforcement_case",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("subscriber_id", Integer(), ForeignKey("subscriber.id"), nullable=False),
    Column("active_subscriber_id", Integer()),
    Column("state", String(16), nullable=False),
    Column("stage", Integer(), nullable=False, default=0),
    Column("held_from", String(16)),
    Column("reasons", JSON(), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("opened_by_finding_id", Integer(), ForeignKey("finding.id")),
    Column("stage_started_at", UtcDateTime()),
    Column("stage_delivered_at", UtcDateTime()),
    Column("hold_ended_at", UtcDateTime()),
    Column("grace_ends_at", UtcDateTime()),
    Column("approved_by", String(200)),
    Column("approved_at", UtcDateTime()),
    Column("exported_at", UtcDateTime()),
    Column("closed_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False, default=utcnow),
    Index("ix_enforcement_case_state", "state"),
    Index("ix_enforcement_case_subscriber_id", "subscriber_id"),
    UniqueConstraint("active_subscriber_id", name="uq_case_active_subscriber"),
    UniqueConstraint("opened_by_finding_id", name="uq_case_opened_by_finding"),
)

CASE_TRANSITION = Table(
    "case_transition",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("case_id", Integer(), ForeignKey("enforcement_case.id"), nullable=False),
    Column("seq", Integer(), nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("to_state", String(16), nullable=False),
    Column("event", String(24), nullable=False),
    Column("stage", Integer(), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("why", String(2000), nullable=False),
    Column("finding_id", Integer()),
    Column("notice_id", Integer()),
    Column("receipt", String(200)),
    Column("hold_id", Integer()),
    Column("digest", String(64), nullable=False),
    Index("ix_case_transition_case_id", "case_id"),
    UniqueConstraint("case_id", "seq", name="uq_case_transition_seq"),
)

NOTICE = Table(
    "notice",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("dedup_key", String(120), nullable=False),
    Column("case_id", Integer(), ForeignKey("enforcement_case.id"), nullable=False),
    Column("subscriber_id", Integer(), ForeignKey("subscriber.id"), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("msisdn", String(20), nullable=False),
    Column("stage", Integer(), nullable=False),
    Column("slot", String(16), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("template", String(64), nullable=False),
    Column("params", JSON(), nullable=False),
    Column("text", String(2000), nullable=False),
    Column("segments", Integer(), nullable=False),
    Column("not_before", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False, default="queued"),
    Column("attempts", Integer(), nullable=False, default=0),
    Column("claimed_by", String(200)),
    Column("claim_token", String(64)),
    Column("lease_expires_at", UtcDateTime()),
    Column("gateway_message_id", String(200)),
    Column("submitted_at", UtcDateTime()),
    Column("receipt_stat", String(16)),
    Column("final_at", UtcDateTime()),
    Column("error", String(2000)),
    Column("created_at", UtcDateTime(), nullable=False, default=utcnow),
    Index("ix_notice_case_id", "case_id"),
    Index("ix_notice_claimable", "channel", "status", "not_before"),
    UniqueConstraint("dedup_key", name="uq_notice_dedup_key"),
    UniqueConstraint("gateway_message_id", name="uq_notice_gateway_message_id"),
)

HOLD = Table(
    "hold",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("scope", String(80), nullable=False),
    Column("reason", String(2000), nullable=False),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("until", UtcDateTime(), nullable=False),
    Column("lifted_at", UtcDateTime()),
    Column("created_by", String(200), nullable=False),
    Column("lifted_by", String(200)),
    Column("created_at", UtcDateTime(), nullable=False, default=utcnow),
)

AUDIT_EVENT = Table(
    "audit_event",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("seq", Integer(), nullable=False),
    Column("at", UtcDateTime(), nullable=False, default=utcnow),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("subscriber_id", Integer()),
    Column("detail", JSON(), nullable=False),
    Column("prev_digest", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Index("ix_audit_event_at", "at"),
    Index("ix_audit_event_seq", "seq", unique=True),
    Index("ix_audit_event_subscriber_id", "subscriber_id"),
)

CASE_SYNC = Table(
    "case_sync",
    METADATA,
    Column("run_id", Integer(), ForeignKey("scan_run.id"), primary_key=True),
    Column("applied_at", UtcDateTime(), nullable=False, default=utcnow),
    Column("opened", Integer(), nullable=False, default=0),
    Column("resolved", Integer(), nullable=False, default=0),
)

REMEDIATION = Table(
    "remediation",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("subscriber_id", Integer(), ForeignKey("subscriber.id"), nullable=False),
    Column("case_id", Integer(), ForeignKey("enforcement_case.id")),
    Column("at", UtcDateTime(), nullable=False, default=utcnow),
    Column("verdict", String(8), nullable=False),
    Column("reasons", JSON(), nullable=False),
    Column("evidence", JSON(), nullable=False),
    Column("photos", JSON(), nullable=False),
    Column("policy_version", String(100), nullable=False),
    Index("ix_remediation_subscriber_id", "subscriber_id"),
)

SUSPENSION_EXPORT = Table(
    "suspension_export",
    METADATA,
    Column("id", Integer(), primary_key=True),
    Column("created_at", UtcDateTime(), nullable=False, default=utcnow),
    Column("created_by", String(200), nullable=False),
    Column("path", String(2000), nullable=False),
    Column("case_ids", JSON(), nullable=False),
)
