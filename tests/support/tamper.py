"""What someone with the database's superuser rights could do to the audit trail, for tests that
check it is refused, and caught when done anyway."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

APPEND_ONLY = ("audit_event", "case_transition")


def without_guards(conn: Connection) -> None:
    """Lift the append-only triggers for the rest of the transaction (PostgreSQL: replica mode, as a
    superuser can set it) or for good (SQLite: the triggers dropped, as anyone with the file can)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        return
    for table in APPEND_ONLY:
        for verb in ("update", "delete"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))


def alter_row(conn: Connection, seq: int) -> None:
    conn.execute(text("UPDATE audit_event SET actor = 'somebody else' WHERE seq = :seq"), {"seq": seq})


def delete_row(conn: Connection, seq: int) -> None:
    conn.execute(text("DELETE FROM audit_event WHERE seq = :seq"), {"seq": seq})


def swap_rows(conn: Connection, seq: int) -> None:
    """Rows ``seq`` and ``seq + 1`` change places (each keeps its content but the other's seq)."""
    conn.execute(text("UPDATE audit_event SET seq = -1 WHERE seq = :a"), {"a": seq})
    conn.execute(text("UPDATE audit_event SET seq = :a WHERE seq = :b"), {"a": seq, "b": seq + 1})
    conn.execute(text("UPDATE audit_event SET seq = :b WHERE seq = -1"), {"b": seq + 1})


def insert_row_after(conn: Connection, seq: int) -> None:
    """A forged row, correctly chained to row ``seq``, slipped in after it; the later rows renumbered."""
    import datetime as dt

    from scanner.audit.chain import GENESIS, at_text, canonical_detail, content, digest

    found = conn.execute(text("SELECT digest FROM audit_event WHERE seq = :s"), {"s": seq}).first()
    prev = found[0] if found else GENESIS
    conn.execute(text("UPDATE audit_event SET seq = -(seq + 1) WHERE seq > :s"), {"s": seq})
    conn.execute(text("UPDATE audit_event SET seq = -seq WHERE seq < 0"))
    at = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    detail = canonical_detail({"case": 1})
    forged = digest(prev, content(seq + 1, at_text(at), "forger", "case.approve", "case 1", None, detail))
    stamp = at if conn.dialect.name == "postgresql" else at.strftime("%Y-%m-%d %H:%M:%S.%f")
    as_json = "CAST(:detail AS json)" if conn.dialect.name == "postgresql" else ":detail"
    conn.execute(
        text(
            "INSERT INTO audit_event (seq, at, actor, action, subject, subscriber_id, detail, prev_digest, digest) "
            f"VALUES (:seq, :at, 'forger', 'case.approve', 'case 1', NULL, {as_json}, :prev, :digest)"
        ),
        {"seq": seq + 1, "at": stamp, "detail": detail.decode(), "prev": prev, "digest": forged},
    )


def rehash_from(conn: Connection, seq: int) -> None:
    """Rewrite row ``seq`` and give it and every later row fresh digests: a consistent new chain."""
    from sqlalchemy import select, update

    from scanner.audit.verify import _LOG_COLUMNS, own_digest
    from scanner.tables import AUDIT_EVENT

    alter_row(conn, seq)
    prev_row = conn.execute(select(AUDIT_EVENT.c.digest).where(AUDIT_EVENT.c.seq == seq - 1)).first()
    prev = prev_row[0] if prev_row else "0" * 64
    rows = conn.execute(select(*_LOG_COLUMNS).where(AUDIT_EVENT.c.seq >= seq).order_by(AUDIT_EVENT.c.seq)).all()
    for row in rows:
        new = own_digest(_Shim(row, prev))  # type: ignore[arg-type]
        conn.execute(update(AUDIT_EVENT).where(AUDIT_EVENT.c.id == row.id).values(prev_digest=prev, digest=new))
        prev = new


class _Shim:
    """A log row with another previous digest."""

    def __init__(self, row: object, prev_digest: str) -> None:
        self._row, self.prev_digest = row, prev_digest

    def __getattr__(self, name: str) -> object:
        return getattr(self._row, name)
