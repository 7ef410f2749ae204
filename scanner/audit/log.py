"""Appending to the audit log: the one way every state change is recorded.

``append`` writes a batch of entries in the caller's transaction, chained to the log's head, in one
statement. Appends are serialized: on PostgreSQL the transaction first takes an advisory lock
(released at its commit or rollback) before it reads the head; on SQLite the write transaction
(``BEGIN IMMEDIATE`` on ``scanner.db.write_engine_for``, or any write made before the append) holds the
database's one write lock. ``seq`` is unique besides, so two appends can never fork the chain.

Personal numbers never enter the log: free text in a detail is masked (``notices.privacy``), and
entries name subscribers by their row id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection

from notices.privacy import mask_text
from scanner.audit.chain import GENESIS, at_text, canonical_detail, content, digest
from scanner.tables import AUDIT_EVENT

# pg_advisory_xact_lock key of the audit log's head ("realname audit" folded into a bigint).
LOCK_KEY = 7_306_381_254_561_204_736
# Detail fields kept verbatim: hashes and gateway ids are long digit runs that are not personal.
_VERBATIM = frozenset(
    {"sha256", "digest", "transition_digest", "findings_digest", "policy_sha256", "gateway_message_id", "token"}
)


@dataclass(frozen=True)
class Entry:
    """One state change: who did what to what, and when."""

    at: dt.datetime
    actor: str
    action: str
    subject: str
    subscriber_id: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def _masked(detail: Mapping[str, Any]) -> dict[str, Any]:
    return {k: mask_text(v) if isinstance(v, str) and k not in _VERBATIM else v for k, v in detail.items()}


def lock_head(conn: Connection) -> None:
    """Serialize appends until the transaction ends (PostgreSQL; SQLite's write lock does it there)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def head(conn: Connection) -> tuple[int, str]:
    """(seq, digest) of the log's last row; (0, GENESIS) when it is empty."""
    row = conn.execute(
        select(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.digest).order_by(AUDIT_EVENT.c.seq.desc()).limit(1)
    ).first()
    return (int(row.seq), str(row.digest)) if row else (0, GENESIS)


def append(conn: Connection, entries: Sequence[Entry]) -> int:
    """Append the entries in order, in the caller's transaction; returns the new head's seq."""
    if not entries:
        return 0
    lock_head(conn)
    seq, prev = head(conn)
    rows = []
    last_at, stamp = None, ""
    for entry in entries:
        seq += 1
        if entry.at is not last_at:  # a batch's entries mostly share one time
            last_at, at = entry.at, entry.at.astimezone(dt.UTC)
            stamp = at_text(at)
        actor, action, subject = entry.actor[:200], entry.action[:40], entry.subject[:200]
        detail_json = canonical_detail(_masked(entry.detail))
        row_digest = digest(prev, content(seq, stamp, actor, action, subject, entry.subscriber_id, detail_json))
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "subject": subject,
                "subscriber_id": entry.subscriber_id,
                # Parsed back from the canonical text: its keys keep the sorted order, so the stored
                # JSON is that text again.
                "detail": orjson.loads(detail_json),
                "prev_digest": prev,
                "digest": row_digest,
            }
        )
        prev = row_digest
    conn.execute(insert(AUDIT_EVENT), rows)
    return seq


def record(
    conn: Connection,
    at: dt.datetime,
    actor: str,
    action: str,
    subject: str,
    *,
    subscriber_id: int | None = None,
    **detail: Any,
) -> int:
    """Append one entry (the common case of an officer's action)."""
    return append(conn, [Entry(at, actor, action, subject, subscriber_id, detail)])
