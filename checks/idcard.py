"""Resident identity card number measurements (GB 11643-1999).

An 18-digit number is six digits of region code, eight of birth date
(YYYYMMDD), three of order code and one ISO 7064 MOD 11-2 check character.
A 15-digit number is the legacy first-generation form: region, YYMMDD
(years 19YY), order code, and no check character.

The functions here measure; they never decide. ``judge`` turns the
measurement into reasons under a policy.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from dataclasses import dataclass
from functools import lru_cache

from stdnum import numdb

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"
# ASCII digits only: str.isdigit and \d also accept full-width and other scripts' digits.
_SHAPE_18 = re.compile(r"^[0-9]{17}[0-9X]$")
_SHAPE_15 = re.compile(r"^[0-9]{15}$")
_DIGITS_17 = re.compile(r"^[0-9]{17}$")
_REGION = re.compile(r"^[0-9]{6}$")


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if not _DIGITS_17.match(first17):
        raise ValueError("need exactly 17 digits")
    return _check_character(first17)


def _check_character(digits17: str) -> str:
    return _CHECK_CHARS[sum(map(operator.mul, map(int, digits17), _WEIGHTS)) % 11]


_SPACE = re.compile(r"\s+")


def normalise(number: str) -> str:
    """Strip spaces and upper-case a trailing ``x``."""
    if number.isascii() and number.isalnum():  # the stored form: nothing to strip
        return number.upper()
    return _SPACE.sub("", number).upper()


def person_key(number: str) -> str | None:
    """The 17 digits that name one person in either form of their number: an 18-digit number's first 17
    (the check character follows from them), a 15-digit legacy number's region, ``19``, birth date and
    order code (the number it was reissued as). None for a number of neither shape. Counting numbers
    per person groups by this."""
    value = normalise(number)
    if _SHAPE_18.match(value):
        return value[:17]
    if _SHAPE_15.match(value):
        return value[:6] + "19" + value[6:]
    return None


@dataclass(frozen=True)
class Region:
    code: str
    province: str
    county: str

    @property
    def name(self) -> str:
        return f"{self.province} {self.county}".strip()


@lru_cache(maxsize=8192)
def region_for(code: str) -> Region | None:
    """Province and county names for a six-digit region code, if known (cached: China has about 3,000)."""
    if not _REGION.match(code):
        return None
    info: dict[str, str] = {}
    for _part, props in numdb.get("cn/loc").info(code):
        info.update(props)
    if not info.get("province"):
        return None
    county = info.get("county", "")
    # numdb marks renamed or abolished counties as "[start-end]name";
    # keep the last listed name for display.
    names = [c.split("]", 1)[-1] for c in county.split(",") if c]
    return Region(code=code, province=info["province"], county=names[-1] if names else "")


@dataclass(frozen=True)
class IdNumberMeasurement:
    """What could be read from an ID number; no verdict."""

    length: int
    well_formed: bool
    legacy: bool
    check_digit_ok: bool | None  # None for legacy numbers (no check digit)
    birth_date: dt.date | None
    region: Region | None

    @property
    def valid(self) -> bool:
        return (
            self.well_formed
            and self.check_digit_ok is not False
            and self.birth_date is not None
            and self.region is not None
        )

    def problems(self) -> list[str]:
        """Plain words for each defect, empty when valid."""
        if not self.well_formed:
            return [f"expected 18 characters (17 digits and a digit or X) or 15 digits, got {self.length}"]
        out = []
        if self.check_digit_ok is False:
            out.append("check digit does not match (GB 11643 / ISO 7064 MOD 11-2)")
        if self.birth_date is None:
            out.append("birth date is not a real date")
        if self.region is None:
            out.append("region code is unknown")
        return out


def _date_or_none(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def measure_id_number(raw: str, today: dt.date | None = None) -> IdNumberMeasurement:
    """Read an ID number. ``today`` (if given) rejects birth dates in the future."""
    number = normalise(raw)
    legacy = bool(_SHAPE_15.match(number))
    if not (legacy or _SHAPE_18.match(number)):
        return IdNumberMeasurement(len(number), False, False, None, None, None)
    if legacy:
        birth = _date_or_none(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
        check_ok = None
    else:
        birth = _date_or_none(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        check_ok = _check_character(number[:17]) == number[17]  # the shape says: 17 digits
    if birth is not None and (birth.year < 1880 or (today is not None and birth > today)):
        birth = None
    return IdNumberMeasurement(
        length=len(number),
        well_formed=True,
        legacy=legacy,
        check_digit_ok=check_ok,
        birth_date=birth,
        region=region_for(number[:6]),
    )


def age_years(birth: dt.date, today: dt.date) -> int:
    """Whole years between ``birth`` and ``today``."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
