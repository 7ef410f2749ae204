"""The counts of a report, each computed by the database (GROUP BY) over one run's findings.

Findings by verdict, by reason (the JSON list of reasons unnested: ``json_each`` on SQLite,
``json_array_elements_text`` on PostgreSQL), by join year and by province; for the run's failing
subscribers, how far the notice ladder got with them (the funnel) and how their notices were delivered
by stage and channel.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, exists, extract, func, select, text
from sqlalchemy.engine import Connection

from scanner.report.rows import province_name
from scanner.tables import CASE, CASE_TRANSITION, FINDING, NOTICE, REMEDIATION, SUBSCRIBER

VERDICTS = ("fail", "review", "pass")
# Notice statuses that mean the message went out (a consumer took it).
SENT = ("submitted", "delivered", "undelivered")


@dataclass
class Split:
    """Subscribers of one group by verdict."""

    verdicts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.verdicts.values())

    @property
    def fail_rate(self) -> float:
        return self.verdicts.get("fail", 0) / self.total if self.total else 0.0


def by_verdict(conn: Connection, run_id: int) -> dict[str, int]:
    rows = conn.execute(
        select(FINDING.c.verdict, func.count()).where(FINDING.c.run_id == run_id).group_by(FINDING.c.verdict)
    )
    return {verdict: int(n) for verdict, n in rows}


def by_reason(conn: Connection, run_id: int) -> dict[str, dict[str, int]]:
    """Reason code -> verdict -> subscribers whose finding gives that reason."""
    if conn.dialect.name == "sqlite":
        sql = (
            "SELECT r.value, f.verdict, count(*) FROM finding AS f, json_each(f.reasons) AS r "
            "WHERE f.run_id = :run GROUP BY r.value, f.verdict"
        )
    else:
        sql = (
            "SELECT r.value, f.verdict, count(*) FROM finding AS f "
            "CROSS JOIN LATERAL json_array_elements_text(CAST(f.reasons AS json)) AS r(value) "
            "WHERE f.run_id = :run GROUP BY r.value, f.verdict"
        )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for code, verdict, n in conn.execute(text(sql), {"run": run_id}):
        out[str(code)][verdict] = int(n)
    return dict(sorted(out.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])))


def _verdicts_by(conn: Connection, run_id: int, key: Any) -> Any:
    """(key, verdict, count) of the run's findings, grouped by ``key``, an expression on the subscriber."""
    return conn.execute(
        select(key, FINDING.c.verdict, func.count())
        .join(SUBSCRIBER, SUBSCRIBER.c.id == FINDING.c.subscriber_id)
        .where(FINDING.c.run_id == run_id)
        .group_by(key, FINDING.c.verdict)
    )


def by_join_year(conn: Connection, run_id: int) -> dict[int, Split]:
    rows = _verdicts_by(conn, run_id, extract("year", SUBSCRIBER.c.joined_on))
    out: dict[int, Split] = defaultdict(Split)
    for y, verdict, n in rows:
        out[int(y)].verdicts[verdict] = int(n)
    return dict(sorted(out.items()))


def by_province(conn: Connection, run_id: int) -> dict[str, Split]:
    """Province name (from the region code, else the ID number's first two digits) -> verdicts."""
    prefix = func.substr(func.coalesce(SUBSCRIBER.c.region_code, SUBSCRIBER.c.id_number), 1, 2)
    out: dict[str, Split] = defaultdict(Split)
    for code, verdict, n in _verdicts_by(conn, run_id, prefix):
        name = province_name(str(code or "")) or f"unknown ({code})"
        out[name].verdicts[verdict] = out[name].verdicts.get(verdict, 0) + int(n)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1].verdicts.get("fail", 0), -kv[1].total, kv[0])))


FUNNEL_STEPS = ("flagged", "notified", "delivered", "reverified", "eligible", "approved", "suspended")


def funnel(conn: Connection, run_id: int) -> dict[str, int]:
    """Of the run's failing subscribers: how many were flagged, sent a notice, had one delivered,
    re-verified online with a pass, and whose case ever became eligible, approved, suspended."""
    sid = FINDING.c.subscriber_id

    def notice_with(statuses: tuple[str, ...]) -> Any:
        return exists().where(CASE.c.subscriber_id == sid, NOTICE.c.case_id == CASE.c.id, NOTICE.c.status.in_(statuses))

    def reached(state: str) -> Any:
        return exists().where(
            CASE.c.subscriber_id == sid, CASE_TRANSITION.c.case_id == CASE.c.id, CASE_TRANSITION.c.to_state == state
        )

    reverified = exists().where(REMEDIATION.c.subscriber_id == sid, REMEDIATION.c.verdict == "pass")
    tests = {
        "notified": notice_with(SENT),
        "delivered": notice_with(("delivered",)),
        "reverified": reverified,
        "eligible": reached("eligible"),
        "approved": reached("approved"),
        "suspended": reached("suspended"),
    }
    query = select(
        func.count(),
        *(func.coalesce(func.sum(case((test, 1), else_=0)), 0) for test in tests.values()),
    ).where(FINDING.c.run_id == run_id, FINDING.c.verdict == "fail")
    row = conn.execute(query).one()
    return {"flagged": int(row[0]), **{name: int(n) for name, n in zip(tests, row[1:], strict=True)}}


@dataclass
class Delivery:
    sent: int = 0  # went out: submitted, delivered or undelivered
    delivered: int = 0
    undelivered: int = 0  # undelivered or dead
    pending: int = 0  # queued, claimed or submitted without a final receipt
    cancelled: int = 0

    @property
    def rate(self) -> float | None:
        final = self.delivered + self.undelivered
        return self.delivered / final if final else None


def delivery(conn: Connection, run_id: int) -> dict[tuple[int, str], Delivery]:
    """(ladder stage, channel) -> what became of the notices to the run's failing subscribers."""
    rows = conn.execute(
        select(NOTICE.c.stage, NOTICE.c.channel, NOTICE.c.status, func.count())
        .select_from(
            NOTICE.join(CASE, CASE.c.id == NOTICE.c.case_id).join(
                FINDING,
                and_(
                    FINDING.c.subscriber_id == CASE.c.subscriber_id,
                    FINDING.c.run_id == run_id,
                    FINDING.c.verdict == "fail",
                ),
            )
        )
        .group_by(NOTICE.c.stage, NOTICE.c.channel, NOTICE.c.status)
    )
    out: dict[tuple[int, str], Delivery] = defaultdict(Delivery)
    for stage, channel, status, n in rows:
        d = out[(int(stage), channel)]
        n = int(n)
        if status in SENT:
            d.sent += n
        if status == "delivered":
            d.delivered += n
        elif status in ("undelivered", "dead"):
            d.undelivered += n
        elif status == "cancelled":
            d.cancelled += n
        else:
            d.pending += n
    return dict(sorted(out.items()))
