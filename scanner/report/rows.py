"""One row per subscriber of a run (schema ``REPORT_SCHEMA``, see the README), read page by page.

A page is one query over the run's findings with their subscribers (keyset on the finding id), then
one query each for the page's photos, latest cases and those cases' latest notices, so a report of
any size holds one page at a time. Phone and ID numbers are masked unless ``reveal`` is given (the
command records every reveal in the audit log first).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from checks.idcard import region_for
from notices.privacy import mask_number, mask_text
from scanner.report.runs import find_run, run_summary
from scanner.tables import CASE, FINDING, NOTICE, PHOTO, SUBSCRIBER

REPORT_SCHEMA = "realname-scanner/report/2"
PAGE = 1000


def province_name(code: str) -> str:
    """The province whose region codes start with these two digits: '湖北省' for '42', or ''."""
    region = region_for(code + "0000") if len(code) == 2 and code.isdigit() else None
    return region.province if region else ""


def province(region_code: str | None, id_number: str) -> str:
    """The province named by the region code (or the ID number's first digits): '湖北省', or ''."""
    return province_name((region_code or id_number[:6])[:2])


def face_score(distances: dict[str, float]) -> tuple[str | None, float | None]:
    """The policy model's score for the ID portrait against the live photo (dlib's distance when that is
    the only one recorded), as (measure, value)."""
    for key, value in sorted(distances.items()):
        if key.startswith("id_portrait~live:"):
            return key.split(":", 1)[1], value
    if "id_portrait~live" in distances:
        return "face_distance", distances["id_portrait~live"]
    return None, None


def _page_query(verdicts: set[str] | None) -> Any:
    last = bindparam("last", type_=Integer)
    query = (
        select(
            FINDING.c.id,
            FINDING.c.subscriber_id,
            FINDING.c.verdict,
            FINDING.c.reasons,
            FINDING.c.evidence,
            FINDING.c.distances,
            SUBSCRIBER.c.account_id,
            SUBSCRIBER.c.name,
            SUBSCRIBER.c.msisdn,
            SUBSCRIBER.c.id_number,
            SUBSCRIBER.c.segment,
            SUBSCRIBER.c.joined_on,
            SUBSCRIBER.c.region_code,
        )
        .join(SUBSCRIBER, SUBSCRIBER.c.id == FINDING.c.subscriber_id)
        .where(FINDING.c.run_id == bindparam("run", type_=Integer), FINDING.c.id > last)
        .order_by(FINDING.c.id)
        .limit(bindparam("page", type_=Integer))
    )
    if verdicts:
        query = query.where(FINDING.c.verdict.in_(sorted(verdicts)))
    return query


def _cases(conn: Connection, subscriber_ids: list[int]) -> dict[int, Any]:
    """Each subscriber's latest case."""
    rows = conn.execute(
        select(CASE.c.id, CASE.c.subscriber_id, CASE.c.state, CASE.c.stage)
        .where(CASE.c.subscriber_id.in_(subscriber_ids))
        .order_by(CASE.c.id)
    )
    return {row.subscriber_id: row for row in rows}


def _notices(conn: Connection, case_ids: list[int]) -> dict[int, Any]:
    """Each case's latest notice."""
    if not case_ids:
        return {}
    rows = conn.execute(
        select(
            NOTICE.c.case_id,
            NOTICE.c.stage,
            NOTICE.c.channel,
            NOTICE.c.status,
            NOTICE.c.not_before,
            NOTICE.c.gateway_message_id,
            NOTICE.c.receipt_stat,
            NOTICE.c.final_at,
        )
        .where(NOTICE.c.case_id.in_(case_ids))
        .order_by(NOTICE.c.id)
    )
    return {row.case_id: row for row in rows}


def photo_name(uri: str) -> str:
    """A photo's file as a report names it: its folder and base name (of a path or a URL), unmasked."""
    path = uri.split("?", 1)[0].replace("\\", "/").rstrip("/")
    name = "/".join(part for part in (posixpath.basename(posixpath.dirname(path)), posixpath.basename(path)) if part)
    return name or uri


def photo_files(conn: Connection, subscriber_ids: list[int]) -> dict[tuple[int, str], str]:
    """The photo files of these subscribers by (subscriber id, kind), named by ``photo_name``."""
    rows = conn.execute(
        select(PHOTO.c.subscriber_id, PHOTO.c.kind, PHOTO.c.uri).where(PHOTO.c.subscriber_id.in_(subscriber_ids))
    )
    return {(row.subscriber_id, row.kind): photo_name(row.uri) for row in rows}


def _evidence(items: list[dict[str, Any]], files: dict[tuple[int, str], str], sid: int, reveal: bool) -> list[Any]:
    out = []
    for item in items:
        kinds = str(item.get("photo_kind") or "").split("~")
        named = [files.get((sid, kind), "") for kind in kinds if kind]
        detail = item.get("detail")
        out.append(
            {
                **item,
                "detail": detail if reveal or not detail else mask_text(str(detail)),
                "photo_file": None if not any(named) else "~".join(named) if reveal else mask_text("~".join(named)),
            }
        )
    return out


def iter_rows(
    engine: Engine, run_id: int, verdicts: set[str] | None = None, *, reveal: bool = False, page: int = PAGE
) -> Iterator[dict[str, Any]]:
    """One dict per finding of the run (see ``REPORT_SCHEMA``), in finding order, read a page at a time."""
    with Session(engine) as session:
        run = find_run(session, run_id)
    policy = run_summary(run)["policy"]
    query = _page_query(verdicts)
    number = (lambda v: v) if reveal else mask_number
    last = 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(query, {"run": run_id, "last": last, "page": page}).all()
            if not rows:
                return
            sids = [row.subscriber_id for row in rows]
            cases = _cases(conn, sids)
            notices = _notices(conn, [c.id for c in cases.values()])
            files = photo_files(conn, sids)
            for row in rows:
                case = cases.get(row.subscriber_id)
                notice = notices.get(case.id) if case is not None else None
                measure, score = face_score(row.distances or {})
                yield {
                    "run_id": run_id,
                    "account_id": row.account_id,
                    "name": row.name,
                    "msisdn": number(row.msisdn),
                    "id_number": number(row.id_number),
                    "segment": row.segment,
                    "joined_on": row.joined_on.isoformat(),
                    "region": province(row.region_code, row.id_number),
                    "verdict": row.verdict,
                    "reasons": row.reasons,
                    "evidence": _evidence(row.evidence or [], files, row.subscriber_id, reveal),
                    "face_measure": measure,
                    "face_score": score,
                    "face_distances": row.distances,
                    "policy": policy,
                    "case": None if case is None else {"id": case.id, "state": case.state, "stage": case.stage},
                    "last_notice": None
                    if notice is None
                    else {
                        "stage": notice.stage,
                        "channel": notice.channel,
                        "status": notice.status,
                        "not_before": notice.not_before.isoformat(),
                        "receipt": {
                            "gateway_message_id": notice.gateway_message_id,
                            "stat": notice.receipt_stat,
                            "final_at": notice.final_at.isoformat() if notice.final_at else None,
                        },
                    },
                }
            last = rows[-1].id


def build_report(engine: Engine, run_id: int | None, verdicts: set[str] | None = None) -> dict[str, Any]:
    """The whole report in memory (the text table and small runs; files are written by ``export``)."""
    with Session(engine) as session:
        run = find_run(session, run_id)
    assert run.id is not None
    return {
        "schema": REPORT_SCHEMA,
        "run": run_summary(run),
        "totals": run.totals,
        "subscribers": list(iter_rows(engine, run.id, verdicts)),
    }
