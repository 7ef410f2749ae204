"""Database tables. Schema changes go through Alembic (``scanner/migrations``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Subscriber(SQLModel, table=True):
    __tablename__ = "subscriber"

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(max_length=64, unique=True, index=True)
    msisdn: str = Field(max_length=20, index=True)
    name: str = Field(max_length=200)
    id_number: str = Field(max_length=18)
    id_legacy: bool = False
    id_expires_on: dt.date | None = None  # None: long-term validity
    joined_on: dt.date
    segment: str = Field(default="consumer", max_length=32)
    region_code: str | None = Field(default=None, max_length=6, index=True)
    source: str = Field(default="", max_length=500)  # file it was last imported from
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Photo(SQLModel, table=True):
    __tablename__ = "photo"
    __table_args__ = (UniqueConstraint("subscriber_id", "kind", name="uq_photo_subscriber_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    kind: str = Field(max_length=16)  # id_portrait | live | handheld
    uri: str = Field(max_length=2000)  # local path or fsspec URL, read in place
    sha256: str | None = Field(default=None, max_length=64, index=True)  # set when scanned
    size_bytes: int | None = None
    scanned_at: dt.datetime | None = None


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
    started_at: dt.datetime = Field(default_factory=utcnow)
    finished_at: dt.datetime | None = None
    totals: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # How the run was started (executor, page size, options), so `--resume` continues alike.
    options: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


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
    finished_at: dt.datetime = Field(default_factory=utcnow)


class Measurement(SQLModel, table=True):
    """What the checks measured on one photo's bytes; reused while the extractor is unchanged."""

    __tablename__ = "measurement"
    __table_args__ = (
        UniqueConstraint("photo_sha256", "extractor_version", name="uq_measurement_sha_version"),
        Index("ix_measurement_photo_sha256", "photo_sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    photo_sha256: str = Field(max_length=64)
    extractor_version: str = Field(max_length=100)
    values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    descriptor: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow)


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
    created_at: dt.datetime = Field(default_factory=utcnow)
