"""Signals that need the whole base at once, counted in the database before a run judges its pages.

One person may hold at most so many numbers at one operator (``[checks.base] max_numbers_per_id``,
five under the MIIT's 2016 rule). The numbers are counted per ``subscriber.person_key`` (the person's
17 digits in either form of the ID number) in one grouped query over its index; only the persons over
the limit come back, so what a run carries to its judges stays small.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from scanner.tables import SUBSCRIBER


def numbers_over_limit(conn: Connection, most: int) -> dict[str, int]:
    """person_key -> how many numbers the base holds under it, for the persons holding more than ``most``."""
    c = SUBSCRIBER.c
    counted = func.count()
    rows = conn.execute(
        select(c.person_key, counted).where(c.person_key.is_not(None)).group_by(c.person_key).having(counted > most)
    ).all()
    return {str(key): int(n) for key, n in rows}
