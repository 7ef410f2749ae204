"""Judge one page of subscribers from plain rows: a pure function, run in the
driver or in a judging process.

Input rows are what the database holds (measurement values as JSON text or
already parsed, descriptors as float64 bytes); output rows are ready to
insert, with the JSON columns already serialised. Keeping this free of ORM
objects and database access lets a re-judge of millions of subscribers judge
in worker processes (``scanner.scan.readahead``) while the driver writes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np
import orjson

from checks.idcard import measure_id_number, person_key
from checks.judge import PhotoInput, SameFace, SubjectInput, Verdict, judge
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
    # person_key -> numbers the base holds under it, for the persons over the policy's limit
    # (``scanner.scan.basewide``); empty where the base is not looked at (an online re-verification).
    numbers_on_id: Mapping[str, int] = field(default_factory=dict)
    # subscriber id -> the nearest face of another ID number within the policy's bound, for the
    # subscribers that have one (``scanner.scan.basewide``); empty where the base is not looked at.
    same_face: Mapping[int, SameFace] = field(default_factory=dict)


# (subscriber id, verdict, reasons, evidence, distances), the last three as JSON text
FindingRow = tuple[int, str, str, str, str]


@dataclass
class JudgedPage:
    policy_version: str
    preview: bool
    findings: list[FindingRow]
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
    out = JudgedPage(settings.policy.version, settings.preview, findings=[])
    for sub_id, kind, values, descriptor, error in photos:
        m = measurement_from_row(values, descriptor) if values is not None else None
        out.unreadable += m is None
        by_sub.setdefault(sub_id, {})[kind] = PhotoInput(kind=kind, measurement=m, error=error)
    policy, as_of = settings.policy, settings.as_of
    over, same = settings.numbers_on_id, settings.same_face
    for sub_id, id_number, expires in subs:
        subject = SubjectInput(
            id_number=measure_id_number(id_number, as_of),
            id_expires_on=expires,
            photos=by_sub.get(sub_id, {}),
            numbers_on_id=over.get(person_key(id_number) or "") if over else None,
            same_face=same.get(sub_id) if same else None,
        )
        j = judge(subject, policy, as_of)
        codes = j.codes
        out.findings.append(
            (
                sub_id,
                j.verdict.value,
                _dumps(codes),
                _dumps([r.to_dict() for r in j.reasons]),
                _dumps(dict(j.distances)),
            )
        )
        out.verdicts[j.verdict.value] += 1
        out.reasons.update(codes)
    return out
