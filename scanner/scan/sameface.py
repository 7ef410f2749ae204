"""A run's last step: faces it measured itself, searched across the base, and its findings brought in line.

A run judges each page with the faces of other ID numbers known when it started. The faces it measured
on the way are searched when its pages are done: the index takes them (``scanner.faceindex``), and each
finding of the run whose FACE_UNDER_OTHER_ID differs from what the base now gives is rewritten
(``checks.judge.with_same_face``), with its shard's verdict and reason counts and findings digest, in
one transaction before the run is marked finished. Done again after an interruption, it finds nothing
left to change, so a resumed run may repeat it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from sqlalchemy import Text, bindparam, cast, select, update
from sqlalchemy.engine import Connection, Engine

from checks.judge import SameFace, with_same_face
from checks.policy import Policy, ReasonCode
from scanner.audit.rundigest import ShardHasher
from scanner.audit.verify import DIGESTED_FINDING_COLUMNS
from scanner.tables import FINDING, SCAN_SHARD

CHUNK = 2000


def _flagged(conn: Connection, run_id: int) -> set[int]:
    """Subscribers whose finding in the run has FACE_UNDER_OTHER_ID."""
    code = ReasonCode.FACE_UNDER_OTHER_ID.value
    rows = conn.execute(
        select(FINDING.c.subscriber_id).where(FINDING.c.run_id == run_id, cast(FINDING.c.reasons, Text).contains(code))
    )
    return {int(r[0]) for r in rows}


def _recount(conn: Connection, run_id: int, shard: Any) -> None:
    """A shard's verdict and reason counts and findings digest, from its finding rows as stored."""
    rows = conn.execute(
        select(*DIGESTED_FINDING_COLUMNS)
        .where(
            FINDING.c.run_id == run_id,
            FINDING.c.subscriber_id >= shard.first_subscriber_id,
            FINDING.c.subscriber_id <= shard.last_subscriber_id,
        )
        .order_by(FINDING.c.subscriber_id)
    ).all()
    verdicts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    hasher = ShardHasher()
    for row in rows:
        verdicts[row.verdict] += 1
        reasons.update(orjson.loads(row.reasons))
        hasher.add(row)
    conn.execute(
        update(SCAN_SHARD)
        .where(SCAN_SHARD.c.id == shard.id)
        .values(verdicts=dict(verdicts), reasons=dict(reasons), findings_digest=hasher.hexdigest())
    )


def amend_findings(
    conn: Connection, run_id: int, policy: Policy, same: Mapping[int, SameFace]
) -> tuple[int, Counter[str]]:
    """Rewrite the run's findings whose FACE_UNDER_OTHER_ID is not what ``same`` gives, in the caller's
    transaction; (findings rewritten, verdict changes as "before>after" counts)."""
    wanted = sorted(set(same) | _flagged(conn, run_id))
    changes: list[dict[str, Any]] = []
    moved: Counter[str] = Counter()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        rows = conn.execute(
            select(FINDING.c.id, FINDING.c.subscriber_id, FINDING.c.verdict, FINDING.c.evidence).where(
                FINDING.c.run_id == run_id, FINDING.c.subscriber_id.in_(chunk)
            )
        ).all()
        for row_id, sid, verdict, evidence in rows:
            stored = orjson.loads(evidence) if isinstance(evidence, str | bytes) else evidence
            new_verdict, codes, new_evidence = with_same_face(stored, same.get(int(sid)), policy)
            if new_evidence == stored and new_verdict.value == verdict:
                continue
            changes.append(
                {
                    "row_id": row_id,
                    "sid": int(sid),
                    "verdict": new_verdict.value,
                    "reasons": codes,
                    "evidence": new_evidence,
                }
            )
            moved[f"{verdict}>{new_verdict.value}"] += 1
    if not changes:
        return 0, moved
    touched = {c.pop("sid") for c in changes}
    conn.execute(
        update(FINDING)
        .where(FINDING.c.id == bindparam("row_id"))
        .values(verdict=bindparam("verdict"), reasons=bindparam("reasons"), evidence=bindparam("evidence")),
        changes,
    )
    shards = conn.execute(
        select(SCAN_SHARD.c.id, SCAN_SHARD.c.first_subscriber_id, SCAN_SHARD.c.last_subscriber_id).where(
            SCAN_SHARD.c.run_id == run_id
        )
    ).all()
    for shard in shards:
        if any(shard.first_subscriber_id <= sid <= shard.last_subscriber_id for sid in touched):
            _recount(conn, run_id, shard)
    return len(changes), moved


def settle_faces(
    engine: Engine,
    run_id: int,
    policy: Policy,
    gather: Callable[[], dict[int, SameFace]],
    renew: Callable[[Connection], None],
) -> tuple[int, Counter[str]]:
    """Search the faces the run measured (``gather``: the index brought up to date and the subscribers
    with a face of another ID number) and rewrite the findings that change, under the run's lease."""
    same = gather()
    with engine.begin() as conn:
        renew(conn)
        return amend_findings(conn, run_id, policy, same)
