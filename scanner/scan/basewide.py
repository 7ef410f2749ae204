"""Signals that need the whole base at once, gathered before a run judges its pages.

One person may hold at most so many numbers at one operator (``[checks.base] max_numbers_per_id``,
five under the MIIT's 2016 rule). The numbers are counted per ``subscriber.person_key`` (the person's
17 digits in either form of the ID number) in one grouped query over its index; only the persons over
the limit come back, so what a run carries to its judges stays small.

One face under several ID numbers (``[checks.base] same_face_max_distance``): the face index kept
beside the database is brought up to date with the faces measured so far (``scanner.faceindex``) and
only the subscribers with a face of another ID number within the bound come back. Faces a run
measures itself are searched when its pages are done (``scanner.scan.sameface``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from checks.judge import SameFace
from checks.policy import Policy
from scanner.faceindex.pairs import same_faces
from scanner.faceindex.store import Note, sync
from scanner.tables import SUBSCRIBER


def numbers_over_limit(conn: Connection, most: int) -> dict[str, int]:
    """person_key -> how many numbers the base holds under it, for the persons holding more than ``most``."""
    c = SUBSCRIBER.c
    counted = func.count()
    rows = conn.execute(
        select(c.person_key, counted).where(c.person_key.is_not(None)).group_by(c.person_key).having(counted > most)
    ).all()
    return {str(key): int(n) for key, n in rows}


def faces_under_other_ids(engine: Engine, policy: Policy, note: Note | None = None) -> dict[int, SameFace]:
    """subscriber id -> the nearest face of another ID number within the policy's bound, over the faces
    measured so far (the index brought up to date first)."""
    bound = policy.checks.base.same_face_max_distance
    sync(engine, bound, note)
    with engine.connect() as conn:
        return same_faces(conn, bound)
