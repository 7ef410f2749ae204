"""Validate one subscriber row from an import file into a clean record.

Every defect is reported in words that name the column; nothing is guessed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from checks.idcard import measure_id_number, normalise
from scanner.photoroots import PhotoRefError, PhotoRoots

COLUMNS = (
    "account_id",
    "msisdn",
    "name",
    "id_number",
    "id_expires_on",
    "joined_on",
    "segment",
    "id_portrait",
    "live_photo",
    "handheld_photo",
)
# Column sizes of the subscriber and photo tables: a longer value is refused here, with its row and
# column, instead of failing in the database.
MAX_NAME = 200
MAX_URI = 2000
REQUIRED_COLUMNS = ("account_id", "msisdn", "name", "id_number", "joined_on")
PHOTO_COLUMNS = {"id_portrait": "id_portrait", "live_photo": "live", "handheld_photo": "handheld"}
SEGMENTS = ("consumer", "enterprise", "government", "iot")
LONG_TERM = {"长期", "long-term", "longterm", "permanent"}
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class SubscriberRecord:
    account_id: str
    msisdn: str
    name: str
    id_number: str
    id_legacy: bool
    id_expires_on: dt.date | None
    joined_on: dt.date
    segment: str
    region_code: str | None
    photos: dict[str, str] = field(default_factory=dict)  # kind -> path or URL
    id_defects: tuple[str, ...] = ()  # check digit / birth date / region problems


@dataclass(frozen=True)
class RowError:
    line: int
    account_id: str
    reasons: tuple[str, ...]
    row: dict[str, Any]
    id_only: bool = False  # every defect is in the ID number's content (keepable)

    def __str__(self) -> str:
        who = f" (account {self.account_id})" if self.account_id else ""
        return f"line {self.line}{who}: " + "; ".join(self.reasons)


def normalise_msisdn(raw: str) -> str | None:
    """An 11-digit mainland mobile number, or None if it is not one."""
    digits = re.sub(r"[\s\-()]", "", raw)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == 11 + len(prefix):
            digits = digits[len(prefix) :]
            break
    if not re.fullmatch(r"1\d{10}", digits):
        return None
    try:
        parsed = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    kind = phonenumbers.number_type(parsed)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return None
    return digits


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _iso_date(raw: str, column: str, errors: list[str]) -> dt.date | None:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(f"{column}: {raw!r} is not an ISO date (YYYY-MM-DD)")
        return None


def validate_row(
    row: dict[str, Any], line: int, roots: PhotoRoots, today: dt.date, keep_invalid_id: bool = False
) -> SubscriberRecord | RowError:
    """Check one row; return a clean record or every reason it is rejected.

    With ``keep_invalid_id`` a row whose only defects are in the ID number's
    content (check digit, birth date, region) is kept, with the defects noted,
    so an existing base can be imported as it is and the rescan flags the
    number (``ID_NUMBER_INVALID``) instead of the subscriber being dropped.
    A malformed number (wrong length or characters) is always rejected.
    """
    errors: list[str] = []
    id_defects: list[str] = []
    account_id = _text(row, "account_id")
    if not account_id:
        errors.append("account_id: missing")
    elif not _ACCOUNT.match(account_id):
        errors.append("account_id: use 1-64 letters, digits, '_', '.', ':' or '-'")

    raw_msisdn = _text(row, "msisdn")
    msisdn = normalise_msisdn(raw_msisdn) if raw_msisdn else None
    if not raw_msisdn:
        errors.append("msisdn: missing")
    elif msisdn is None:
        errors.append("msisdn: not an 11-digit mainland China mobile number")

    name = _text(row, "name")
    if not name:
        errors.append("name: missing")
    elif len(name) > MAX_NAME:
        errors.append(f"name: {len(name)} characters; at most {MAX_NAME}")

    id_number = normalise(_text(row, "id_number"))
    id_m = measure_id_number(id_number, today)
    if not id_number:
        errors.append("id_number: missing")
    elif not id_m.well_formed:
        errors.append(f"id_number: {id_m.problems()[0]}")
    else:
        id_defects = [f"id_number: {p}" for p in id_m.problems()]

    expires_raw = _text(row, "id_expires_on")
    expires = None
    if expires_raw and expires_raw.lower() not in LONG_TERM:
        expires = _iso_date(expires_raw, "id_expires_on", errors)

    joined_raw = _text(row, "joined_on")
    joined = _iso_date(joined_raw, "joined_on", errors) if joined_raw else None
    if not joined_raw:
        errors.append("joined_on: missing")
    elif joined is not None and joined > today:
        errors.append(f"joined_on: {joined.isoformat()} is in the future")

    segment = _text(row, "segment").lower() or "consumer"
    if segment not in SEGMENTS:
        errors.append(f"segment: {segment!r} is not one of {', '.join(SEGMENTS)}")

    photos: dict[str, str] = {}
    for col, kind in PHOTO_COLUMNS.items():
        raw = _text(row, col)
        if not raw:
            continue
        if len(raw) > MAX_URI:
            errors.append(f"{col}: {len(raw)} characters; at most {MAX_URI}")
            continue
        try:
            photos[kind] = roots.locate(raw)
        except PhotoRefError as exc:
            errors.append(f"{col}: {exc}")
            continue
        if len(photos[kind]) > MAX_URI:
            errors.append(f"{col}: {len(photos[kind])} characters once resolved; at most {MAX_URI}")

    if errors:
        return RowError(line=line, account_id=account_id, reasons=tuple(errors + id_defects), row=row)
    assert msisdn is not None and joined is not None
    record = SubscriberRecord(
        account_id=account_id,
        msisdn=msisdn,
        name=name,
        id_number=id_number,
        id_legacy=id_m.legacy,
        id_expires_on=expires,
        joined_on=joined,
        segment=segment,
        region_code=id_number[:6] if id_m.region else None,
        photos=photos,
        id_defects=tuple(id_defects),
    )
    if id_defects and not keep_invalid_id:
        return RowError(line=line, account_id=account_id, reasons=tuple(id_defects), row=row, id_only=True)
    return record
