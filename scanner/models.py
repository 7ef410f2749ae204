"""Database tables: the one description of the schema. Schema changes go through Alembic
(``scanner/migrations``); ``scanner.tables``, the same tables as SQLAlchemy Core, is generated from
these models (``make tables``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from scanner.utctime import UtcDateTime, utcnow


class Subscriber(SQLModel, table=True):
    __tablename__ = "subscriber"

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(max_length=64, unique=True, index=True)
    msisdn: str = Field(max_length=20, index=True)
    name: str = Field(max_length=200)
    id_number: str = Field(max_length=18)
    id_legacy: bool = False
    # The 17 digits naming the person in either form of the number (checks.idcard.person_key): the
    # numbers held per person are counted by it. None for a number of neither form.
    person_key: str | None = Field(default=None, max_length=17, index=True)
    id_expires_on: dt.date | None = None  # None: long-term validity
    joined_on: dt.date
    segment: str = Field(default="consumer", max_length=32)
    region_code: str | None = Field(default=None, max_length=6, index=True)
    source: str = Field(default="", max_length=500)  # file it was last imported from
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Photo(SQLModel, table=True):
    __tablename__ = "photo"
    __table_args__ = (UniqueConstraint("subscriber_id", "kind", name="uq_photo_subscriber_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    kind: str = Field(max_length=16)  # id_portrait | live | handheld
    uri: str = Field(max_length=2000)  # local path or fsspec URL, read in place
    sha256: str | None = Field(default=None, max_length=64, index=True)  # set when scanned
    size_bytes: int | None = None
    scanned_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)


class ScanRun(SQLModel, table=True):
    __tablename__ = "scan_run"

    id: int | None = Field(default=None, primary_key=True)
    policy_name: str = Field(max_length=200)
    policy_version: str = Field(max_length=100)
    policy_sha256: str = Field(max_length=64)
    policy_path: str = Field(default="", max_length=2000)
    mode: str = Field(default="enforce", max_length=16)  # enforce | preview
    as_of: dt.date  # the day ID expiry is judged against
    status: str = Field(default="running", max_length=16)  # running | finished | failed
    started_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    totals: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # How the run was started (executor, page size, options), so `--resume` continues alike.
    options: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The lease of the process working on the run (``scanner.scan.lease``); all NULL when none holds it.
    lease_holder: str | None = Field(default=None, max_length=300)  # "host:pid"
    # The holder process's start time (seconds since the epoch), so a reused pid is not taken for it.
    lease_process_started: float | None = None
    lease_taken_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    heartbeat_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)


class ScanShard(SQLModel, table=True):
    """One committed page of a run: its findings were written in the same transaction."""

    __tablename__ = "scan_shard"
    __table_args__ = (UniqueConstraint("run_id", "shard_no", name="uq_scan_shard_run_no"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="scan_run.id", index=True)
    shard_no: int
    first_subscriber_id: int
    last_subscriber_id: int
    subscribers: int
    photos: int  # photo references judged
    measured: int  # photos decoded and measured (the rest came from the measurement cache)
    from_cache: int
    unreadable: int
    verdicts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reasons: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seconds: float
    finished_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    # sha256 over the shard's findings as written (``scanner.audit.rundigest``); NULL before 0006.
    findings_digest: str | None = Field(default=None, max_length=64)


class Measurement(SQLModel, table=True):
    """What the checks measured on one photo's bytes; reused while the extractor is unchanged."""

    __tablename__ = "measurement"
    __table_args__ = (
        UniqueConstraint("photo_sha256", "extractor_version", name="uq_measurement_sha_version"),
        Index("ix_measurement_photo_sha256", "photo_sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    photo_sha256: str = Field(max_length=64)
    extractor_version: str = Field(max_length=400)  # the parts and their versions (checks.photo)
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    descriptor: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class FaceIndexState(SQLModel, table=True):
    """The face index kept beside the database (``scanner.faceindex``): which file it is and how far
    the pairs of ``face_pair`` were searched. One row."""

    __tablename__ = "face_index"

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=32)  # names the index file; a file of another uuid is not this database's
    searched_to: int = 0  # faces of measurements up to this id have been searched for their neighbours
    radius: float = 0.0  # pairs were recorded within this SFace cosine distance
    faces: int = 0  # faces in the index
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class FacePair(SQLModel, table=True):
    """Two measured faces (of different photo files) within the index's radius of each other."""

    __tablename__ = "face_pair"
    __table_args__ = (
        UniqueConstraint("measurement_a", "measurement_b", name="uq_face_pair"),
        Index("ix_face_pair_distance", "distance"),
    )

    id: int | None = Field(default=None, primary_key=True)
    measurement_a: int  # the smaller measurement id of the two
    measurement_b: int
    distance: float  # SFace cosine distance, 1 - cosine


class Finding(SQLModel, table=True):
    __tablename__ = "finding"
    __table_args__ = (UniqueConstraint("run_id", "subscriber_id", name="uq_finding_run_subscriber"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="scan_run.id", index=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    verdict: str = Field(max_length=8, index=True)  # pass | review | fail
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    distances: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    policy_version: str = Field(max_length=100)
    preview: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


# --- Enforcement: cases, their history, the notice queue, holds and the audit trail. ---


class Case(SQLModel, table=True):
    """A failing subscriber's way through the notice ladder (``notices.cases``)."""

    __tablename__ = "enforcement_case"
    __table_args__ = (
        UniqueConstraint("active_subscriber_id", name="uq_case_active_subscriber"),
        UniqueConstraint("opened_by_finding_id", name="uq_case_opened_by_finding"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    # The subscriber id while the case is open, NULL once it is resolved or exempted:
    # the unique constraint allows one open case per subscriber.
    active_subscriber_id: int | None = None
    state: str = Field(max_length=16, index=True)
    stage: int = 0
    held_from: str | None = Field(default=None, max_length=16)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    opened_at: dt.datetime = Field(sa_type=UtcDateTime)
    opened_by_finding_id: int | None = Field(default=None, foreign_key="finding.id")
    opened_by_review_id: int | None = None  # the review item whose decision (fail, recapture) opened it
    stage_started_at: dt.datetime | None = Field(
        default=None, sa_type=UtcDateTime
    )  # when the stage under way was queued
    stage_delivered_at: dt.datetime | None = Field(
        default=None, sa_type=UtcDateTime
    )  # when the last finished stage was delivered
    hold_ended_at: dt.datetime | None = Field(
        default=None, sa_type=UtcDateTime
    )  # when the last hold covering it ended: delays count from it
    grace_ends_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    exported_at: dt.datetime | None = Field(
        default=None, sa_type=UtcDateTime
    )  # written to a suspension list for the BSS
    closed_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)  # resolved, exempted
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class CaseTransition(SQLModel, table=True):
    """One line of a case's append-only history; each line hashes the one before it."""

    __tablename__ = "case_transition"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_transition_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="enforcement_case.id", index=True)
    seq: int
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)
    event: str = Field(max_length=24)
    stage: int
    at: dt.datetime = Field(sa_type=UtcDateTime)
    actor: str = Field(max_length=200)
    why: str = Field(max_length=2000)
    finding_id: int | None = None
    notice_id: int | None = None
    receipt: str | None = Field(default=None, max_length=200)  # gateway message id and stat
    hold_id: int | None = None
    digest: str = Field(max_length=64)  # sha256 of the previous line's digest and this line


class Notice(SQLModel, table=True):
    """One message (or agent task) in the queue the SMS system consumes (``notices.queue``)."""

    __tablename__ = "notice"
    __table_args__ = (
        Index("ix_notice_claimable", "channel", "status", "not_before"),
        UniqueConstraint("dedup_key", name="uq_notice_dedup_key"),
        UniqueConstraint("gateway_message_id", name="uq_notice_gateway_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=120)
    case_id: int = Field(foreign_key="enforcement_case.id", index=True)
    subscriber_id: int = Field(foreign_key="subscriber.id")
    account_id: str = Field(max_length=64)
    msisdn: str = Field(max_length=20)  # the full number, handed only to the consumer that claims it
    stage: int  # ladder stage; 0 for a confirmation
    slot: str = Field(max_length=16)  # the stage's channel this notice stands for (after fallbacks)
    attempt: int  # 1, 2, ... within the slot
    channel: str = Field(max_length=16)
    template: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    text: str = Field(max_length=2000)
    segments: int
    not_before: dt.datetime = Field(sa_type=UtcDateTime)
    status: str = Field(default="queued", max_length=16)
    attempts: int = 0  # claims so far
    claimed_by: str | None = Field(default=None, max_length=200)
    claim_token: str | None = Field(default=None, max_length=64)
    lease_expires_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    gateway_message_id: str | None = Field(default=None, max_length=200)
    submitted_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    receipt_stat: str | None = Field(default=None, max_length=16)
    final_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)  # delivered, undelivered, dead or cancelled
    error: str | None = Field(default=None, max_length=2000)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class HoldRow(SQLModel, table=True):
    """A period in which no notice goes out and no case becomes eligible in a scope."""

    __tablename__ = "hold"

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=80)
    reason: str = Field(max_length=2000)
    starts_at: dt.datetime = Field(sa_type=UtcDateTime)
    until: dt.datetime = Field(sa_type=UtcDateTime)
    lifted_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_by: str = Field(max_length=200)
    lifted_by: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class AuditEvent(SQLModel, table=True):
    """One row of the audit log every state change appends to (``scanner.audit``). The rows form one
    hash chain: each holds the previous row's digest and its own, sha256 of that and of its content."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True, index=True)  # 1, 2, 3, ... without gaps
    at: dt.datetime = Field(default_factory=utcnow, index=True, sa_type=UtcDateTime)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=40)
    subject: str = Field(max_length=200)
    subscriber_id: int | None = Field(default=None, index=True)  # whom it concerns, when one subscriber
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_digest: str = Field(max_length=64)
    digest: str = Field(max_length=64)


class CaseSync(SQLModel, table=True):
    """An enforcing run whose findings have been applied to cases (``cases advance``)."""

    __tablename__ = "case_sync"

    run_id: int = Field(foreign_key="scan_run.id", primary_key=True)
    applied_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    opened: int = 0
    resolved: int = 0


class Remediation(SQLModel, table=True):
    """A subscriber's online re-verification: the new photos and how they were judged."""

    __tablename__ = "remediation"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="enforcement_case.id")
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    verdict: str = Field(max_length=8)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    photos: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    policy_version: str = Field(max_length=100)


class SuspensionExport(SQLModel, table=True):
    """A batch of approved cases written for the BSS with full numbers: those cases are exported, and
    the batch can be written again by its id."""

    __tablename__ = "suspension_export"

    id: int | None = Field(default=None, primary_key=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    created_by: str = Field(max_length=200)
    path: str = Field(max_length=2000)
    case_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


# --- Human review: reviewers, review items, their decisions and the web app's sessions. ---


class Reviewer(SQLModel, table=True):
    """A person who decides review items (role ``reviewer``) or also runs the queue (``officer``)."""

    __tablename__ = "reviewer"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    role: str = Field(default="reviewer", max_length=16)  # reviewer | officer
    # Scopes: ID region code prefixes ("42", "4201") and segments; empty lists mean every one.
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    segments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    password_hash: str | None = Field(default=None, max_length=200)  # argon2id; None: no sign-in
    failed_logins: int = 0
    locked_until: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ReviewItem(SQLModel, table=True):
    """One subscriber's photos for a person to decide (``notices.review``). ``basis`` is the sha256 of
    the photos and the review reasons: a rescan that still says review on the same photos keeps the
    same item."""

    __tablename__ = "review_item"
    __table_args__ = (
        UniqueConstraint("active_subscriber_id", name="uq_review_item_active_subscriber"),
        UniqueConstraint("subscriber_id", "basis", name="uq_review_item_basis"),
        Index("ix_review_item_queue", "state", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    # The subscriber id while the item is undecided, NULL once decided: one open item per subscriber.
    active_subscriber_id: int | None = None
    basis: str = Field(max_length=64)
    source: str = Field(max_length=16)  # finding | referral
    finding_id: int | None = Field(default=None, foreign_key="finding.id")  # the newest finding behind it
    run_id: int | None = None
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    note: str = Field(default="", max_length=2000)  # an officer's referral note
    referred_by: str | None = Field(default=None, max_length=200)
    state: str = Field(default="pending", max_length=16)
    assignee_id: int | None = Field(default=None, foreign_key="reviewer.id", index=True)
    assigned_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    lease_expires_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    first_reviewer_id: int | None = None  # who gave the first fail when a second opinion is needed
    first_reason: str | None = Field(default=None, max_length=40)
    decision: str | None = Field(default=None, max_length=16)  # pass | fail | recapture
    decision_reason: str | None = Field(default=None, max_length=40)
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    case_id: int | None = None  # the case the decision opened, kept or resolved
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ReviewDecision(SQLModel, table=True):
    """One reviewer's decision on an item, with what the reviewer was shown."""

    __tablename__ = "review_decision"

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="review_item.id", index=True)
    reviewer_id: int = Field(foreign_key="reviewer.id", index=True)
    decision: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=40)
    note: str = Field(default="", max_length=2000)
    at: dt.datetime = Field(sa_type=UtcDateTime)
    final: bool = True  # False for a first fail awaiting a second opinion, or a disputed one
    shown: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token; only its sha256 is stored here."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True)
    reviewer_id: int = Field(foreign_key="reviewer.id", index=True)
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    last_seen_at: dt.datetime = Field(sa_type=UtcDateTime)
    expires_at: dt.datetime = Field(sa_type=UtcDateTime)
    ended_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
