"""Online re-verification ("green channel"): a subscriber sends new photos, they are
judged at once under the policy, and a pass resolves the open case.

On a pass the new photos become the subscriber's photos on file (read in place,
never copied), the case is resolved, its pending notices are cancelled and a
confirmation SMS is queued. On a fail nothing changes but the record of the
attempt: the ladder goes on, and the reasons are shown so the subscriber can
try again. Every attempt is kept (``remediation``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from checks.judge import needs_descriptor
from checks.policy import PHOTO_KINDS
from notices.cases import CaseEvent
from notices.queue import Recipient, confirmation_draft
from scanner.audit.log import record
from scanner.enforce.cases import CaseError, active_case, apply_event, cancel_pending
from scanner.enforce.queue import enqueue
from scanner.photoroots import PhotoRefError, PhotoRoots
from scanner.policyfile import LoadedPolicy
from scanner.review.items import withdraw_open
from scanner.scan.judging import JudgeSettings, judge_page
from scanner.scan.measuretask import PhotoTask, measure_task
from scanner.scan.shards import descriptor_bytes
from scanner.tables import PHOTO, REMEDIATION, SUBSCRIBER


@dataclass(frozen=True)
class RemediationResult:
    remediation_id: int
    account_id: str
    verdict: str
    reasons: list[str]
    evidence: list[dict[str, Any]]
    case_id: int | None
    case_resolved: bool
    notices_cancelled: int
    confirmation_queued: bool


def _located(loaded: LoadedPolicy, new_photos: dict[str, str]) -> dict[str, str]:
    """The paths or URLs to read: under the policy's ``[photos] roots`` when it names some;
    otherwise any local path given (the officer named it), and no URL."""
    roots = PhotoRoots.of(loaded.policy.photos.roots or ["/"], Path.cwd())
    located = {}
    for kind, ref in new_photos.items():
        try:
            located[kind] = roots.locate(ref)
        except PhotoRefError as exc:
            raise CaseError(f"{kind} photo: {exc}") from None
    return located


def remediate(
    engine: Engine, loaded: LoadedPolicy, account_id: str, new_photos: dict[str, str], now: dt.datetime
) -> RemediationResult:
    """Judge the subscriber with ``new_photos`` (kind -> path or URL) in place of those on file."""
    unknown = set(new_photos) - set(PHOTO_KINDS)
    if unknown or not new_photos:
        raise CaseError(f"re-verification needs photos of kinds {', '.join(PHOTO_KINDS)}; got {sorted(new_photos)}")
    with engine.connect() as conn:
        sub = conn.execute(select(SUBSCRIBER).where(SUBSCRIBER.c.account_id == account_id)).first()
        if sub is None:
            raise CaseError(f"account {account_id}: no such subscriber")
        on_file = {r.kind: r.uri for r in conn.execute(select(PHOTO).where(PHOTO.c.subscriber_id == sub.id))}
    new_photos = _located(loaded, new_photos)
    photos = {**on_file, **new_photos}
    rows = []
    for i, (kind, uri) in enumerate(sorted(photos.items())):
        outcome = measure_task(PhotoTask(photo_id=i, uri=uri, dlib=needs_descriptor(loaded.policy)))
        m = outcome.measurement
        rows.append((sub.id, kind, m, descriptor_bytes(m) if m else None, outcome.error))
    today = now.astimezone(ZoneInfo(loaded.enforcement.zone)).date()
    judged = judge_page(
        JudgeSettings(0, loaded.policy, today, False), [(sub.id, sub.id_number, sub.id_expires_on)], rows
    )
    _sid, verdict, reasons_json, evidence_json, _distances = judged.findings[0]
    reasons, evidence = orjson.loads(reasons_json), orjson.loads(evidence_json)
    passed = verdict == "pass"
    with engine.begin() as conn:
        case = active_case(conn, sub.id, lock=True)
        remediation_id = int(
            conn.execute(
                insert(REMEDIATION).values(
                    subscriber_id=sub.id,
                    case_id=case.id if case else None,
                    at=now,
                    verdict=verdict,
                    reasons=reasons,
                    evidence=evidence,
                    photos=new_photos,
                    policy_version=loaded.policy.version,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        cancelled, confirmed = 0, False
        record(
            conn,
            now,
            "remediate",
            "remediate",
            f"remediation {remediation_id}",
            subscriber_id=sub.id,
            remediation=remediation_id,
            case=case.id if case else None,
            verdict=verdict,
            reasons=reasons,
            policy_version=loaded.policy.version,
            photos=sorted(new_photos),
        )
        if passed:
            _replace_photos(conn, sub.id, new_photos, now)
            withdraw_open(conn, sub.id, now, "remediate", f"re-verification {remediation_id} passed with new photos")
        if passed and case is not None:
            apply_event(
                conn,
                case,
                CaseEvent.RESOLVE,
                now=now,
                actor="remediate",
                why=f"online re-verification {remediation_id} passed under policy {loaded.policy.version}",
            )
            cancelled = cancel_pending(conn, case.id, now, "the subscriber re-verified", "remediate")
            draft = confirmation_draft(case.id, Recipient(sub.id, sub.account_id, sub.msisdn), loaded.enforcement, now)
            confirmed = bool(enqueue(conn, [draft], now, "remediate"))
    return RemediationResult(
        remediation_id,
        sub.account_id,
        verdict,
        reasons,
        evidence,
        case.id if case else None,
        passed and case is not None,
        cancelled,
        confirmed,
    )


def _replace_photos(conn: Any, subscriber_id: int, new_photos: dict[str, str], now: dt.datetime) -> None:
    for kind, uri in new_photos.items():
        conn.execute(delete(PHOTO).where(PHOTO.c.subscriber_id == subscriber_id, PHOTO.c.kind == kind))
        conn.execute(insert(PHOTO).values(subscriber_id=subscriber_id, kind=kind, uri=uri))
    conn.execute(update(SUBSCRIBER).where(SUBSCRIBER.c.id == subscriber_id).values(updated_at=now))
