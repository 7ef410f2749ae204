"""Subscribers, scan runs and findings written straight to the tables, for ``report --diff`` tests.

No photo is measured: a test states each subscriber's verdict and reasons in each run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from checks.idcard import check_character
from scanner.tables import FINDING, SCAN_RUN, SUBSCRIBER

NOW = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)
AS_OF = dt.date(2026, 11, 22)


@dataclass(frozen=True)
class Person:
    id: int
    region: str = "420102"  # six-digit region code the ID number starts with
    joined: int = 2015  # join year

    @property
    def account_id(self) -> str:
        return f"ACC{self.id:05d}"

    @property
    def msisdn(self) -> str:
        return f"1391{self.id:07d}"

    @property
    def id_number(self) -> str:
        body = f"{self.region}19850612{self.id % 1000:03d}"
        return body + check_character(body)


def add_people(engine: Engine, people: list[Person]) -> None:
    rows = [
        {
            "id": p.id,
            "account_id": p.account_id,
            "msisdn": p.msisdn,
            "name": "测试",
            "id_number": p.id_number,
            "id_legacy": False,
            "id_expires_on": None,
            "joined_on": dt.date(p.joined, 3, 1),
            "segment": "consumer",
            "region_code": p.region,
            "source": "",
            "created_at": NOW,
            "updated_at": NOW,
        }
        for p in people
    ]
    with engine.begin() as conn:
        conn.execute(insert(SUBSCRIBER), rows)


def add_run(
    engine: Engine,
    run_id: int,
    findings: dict[int, tuple[str, list[str]]],
    *,
    mode: str = "enforce",
    as_of: dt.date = AS_OF,
    status: str = "finished",
) -> None:
    """A scan run and its findings: subscriber id -> (verdict, reasons)."""
    with engine.begin() as conn:
        conn.execute(
            insert(SCAN_RUN),
            [
                {
                    "id": run_id,
                    "policy_name": "default" if mode == "enforce" else "next",
                    "policy_version": f"2026.11-{run_id}",
                    "policy_sha256": f"{run_id:064d}",
                    "policy_path": "",
                    "mode": mode,
                    "as_of": as_of,
                    "status": status,
                    "started_at": NOW + dt.timedelta(hours=run_id),
                    "finished_at": NOW + dt.timedelta(hours=run_id, minutes=30) if status == "finished" else None,
                    "totals": {},
                }
            ],
        )
        if findings:
            conn.execute(
                insert(FINDING),
                [
                    {
                        "run_id": run_id,
                        "subscriber_id": sid,
                        "verdict": verdict,
                        "reasons": reasons,
                        "evidence": [],
                        "distances": {},
                        "policy_version": f"2026.11-{run_id}",
                        "preview": mode == "preview",
                        "created_at": NOW,
                    }
                    for sid, (verdict, reasons) in findings.items()
                ],
            )


def clear(engine: Engine) -> None:
    """Remove every finding, run and subscriber (between property-test examples)."""
    with engine.begin() as conn:
        for table in (FINDING, SCAN_RUN, SUBSCRIBER):
            conn.execute(delete(table))
