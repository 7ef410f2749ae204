"""Judge one page of subscribers from plain rows: a pure function, run in the
driver or in a judging process.

Input rows are what the database holds (measurement values as JSON text or
already parsed, descriptors as float64 bytes); output rows are ready to
insert, with the JSON columns already serialised. Keeping this free of ORM
objects and database access lets a re-judge of millions of subscribers use
every core while the driver reads and writes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np
import orjson

from checks.idcard import measure_id_number
from checks.judge import PhotoInput, SubjectInput, Verdict, judge
from checks.photo import PhotoMeasurement
from checks.policy import Policy

# (subscriber id, ID number, ID expiry)
SubRow = tuple[int, str, dt.date | None]
# (subscriber id, photo kind, measurement values as JSON text or dict or None, descriptor bytes, error)
PhotoRow = tuple[int, str, str | dict[str, Any] | None, bytes | None, str | None]


@dataclass(frozen=True)
class JudgeSettings:
    run_id: int
    policy: Policy
    as_of: dt.date
    preview: bool


@dataclass
class JudgedPage:
    findings: list[dict[str, Any]]
    verdicts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0

    @property
    def failures(self) -> int:
        return self.verdicts.get(Verdict.FAIL.value, 0)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


_FIELDS = {f.name for f in fields(PhotoMeasurement)}
_DEFAULTS = {f.name: f.default for f in fields(PhotoMeasurement) if f.default is not MISSING}


def measurement_from_row(values: str | dict[str, Any], descriptor: bytes | None) -> PhotoMeasurement:
    """A stored measurement as the judge needs it. The frozen dataclass's
    ``__init__`` costs more than the judging itself, so the instance is filled
    directly; the keys are checked, so a stored row can never carry a stray field."""
    data = orjson.loads(values) if isinstance(values, str | bytes) else dict(values)
    data["descriptor"] = None if descriptor is None else np.frombuffer(descriptor, dtype=np.float64)
    merged = {**_DEFAULTS, **data}
    if merged.keys() != _FIELDS:
        return PhotoMeasurement(**data)  # raises, naming the missing or unexpected field
    m = object.__new__(PhotoMeasurement)
    m.__dict__.update(merged)
    return m


def judge_page(settings: JudgeSettings, subs: Sequence[SubRow], photos: Sequence[PhotoRow]) -> JudgedPage:
    by_sub: dict[int, dict[str, PhotoInput]] = {}
    out = JudgedPage(findings=[])
    for sub_id, kind, values, descriptor, error in photos:
        m = measurement_from_row(values, descriptor) if values is not None else None
        out.unreadable += m is None
        by_sub.setdefault(sub_id, {})[kind] = PhotoInput(kind=kind, measurement=m, error=error)
    policy, as_of = settings.policy, settings.as_of
    for sub_id, id_number, expires in subs:
        subject = SubjectInput(
            id_number=measure_id_number(id_number, as_of), id_expires_on=expires, photos=by_sub.get(sub_id, {})
        )
        j = judge(subject, policy, as_of)
        codes = j.codes
        out.findings.append(
            {
                "run_id": settings.run_id,
                "subscriber_id": sub_id,
                "verdict": j.verdict.value,
                "reasons": _dumps(codes),
                "evidence": _dumps([r.to_dict() for r in j.reasons]),
                "distances": _dumps(dict(j.distances)),
                "policy_version": policy.version,
                "preview": settings.preview,
            }
        )
        out.verdicts[j.verdict.value] += 1
        out.reasons.update(codes)
    return out


_WORKER_SETTINGS: JudgeSettings | None = None


def _init_worker(settings: JudgeSettings) -> None:
    global _WORKER_SETTINGS
    _WORKER_SETTINGS = settings


def _judge_in_worker(subs: Sequence[SubRow], photos: Sequence[PhotoRow]) -> JudgedPage:
    assert _WORKER_SETTINGS is not None
    return judge_page(_WORKER_SETTINGS, subs, photos)


class JudgePool:
    """Judging processes for pages whose photos all come from the measurement cache."""

    def __init__(self, settings: JudgeSettings, processes: int) -> None:
        import multiprocessing

        self._pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(settings,),
        )

    def submit(self, subs: Sequence[SubRow], photos: Sequence[PhotoRow]) -> Future[JudgedPage]:
        return self._pool.submit(_judge_in_worker, subs, photos)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
