"""Resident ID numbers (GB 11643-1999): check character, shape, birth date, region, legacy form."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.idcard import age_years, check_character, measure_id_number, normalise, person_key, region_for

CHECK_ALPHABET = "0123456789X"
KNOWN_REGIONS = ("110105", "420102", "440305", "310101", "510104")


def reference_check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 written out from the standard, independently of the code under test."""
    weights = [(2 ** (17 - i)) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def test_reference_weights_match_the_standard() -> None:
    # The weights printed in GB 11643-1999.
    assert [(2 ** (17 - i)) % 11 for i in range(17)] == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002X",  # the example printed in GB 11643-1999
        "440524188001010014",  # born 1880, the earliest year the code accepts
        "420102199001011236",
    ],
)
def test_check_character_known_valid_numbers(number: str) -> None:
    assert reference_check_character(number[:17]) == number[17]
    assert check_character(number[:17]) == number[17]
    assert measure_id_number(number).check_digit_ok is True


@pytest.mark.parametrize(
    ("number", "right"),
    [("110105194912310029", "X"), ("420102199001011233", "6"), ("44052418800101001X", "4")],
)
def test_check_character_known_wrong_numbers(number: str, right: str) -> None:
    assert reference_check_character(number[:17]) == right
    assert check_character(number[:17]) == right
    m = measure_id_number(number)
    assert m.check_digit_ok is False and not m.valid


def test_known_valid_number() -> None:
    m = measure_id_number("11010519491231002X")
    assert m.valid
    assert m.well_formed and not m.legacy and m.check_digit_ok is True
    assert m.length == 18
    assert m.birth_date == dt.date(1949, 12, 31)
    assert m.region is not None
    assert m.region.code == "110105"
    assert m.region.province == "北京市"
    assert m.region.county == "朝阳区"
    assert m.region.name == "北京市 朝阳区"
    assert m.problems() == []


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_agrees_with_reference(first17: str) -> None:
    assert check_character(first17) == reference_check_character(first17)


@pytest.mark.parametrize(
    "bad", ["", "1234567890123456", "123456789012345678", "1101051949123100A", "  110105194912310 "]
)
def test_check_character_needs_17_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        check_character(bad)


@given(
    region=st.sampled_from(KNOWN_REGIONS),
    birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)),
    order=st.integers(min_value=0, max_value=999),
    replacement=st.sampled_from(CHECK_ALPHABET),
)
def test_valid_body_with_check_character_is_valid_and_any_other_is_not(
    region: str, birth: dt.date, order: int, replacement: str
) -> None:
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    number = body + check_character(body)
    m = measure_id_number(number, today=dt.date(2026, 1, 1))
    assert m.valid, m
    assert m.check_digit_ok is True
    assert m.birth_date == birth
    assert m.region is not None and m.region.code == region

    if replacement != number[17]:
        wrong = measure_id_number(body + replacement)
        assert wrong.well_formed
        assert wrong.check_digit_ok is False
        assert not wrong.valid
        assert any("check digit" in p for p in wrong.problems())


@pytest.mark.parametrize(
    "birth",
    ["19900230", "19990229", "19901301", "19900001", "19900100", "19901232"],
)
def test_impossible_birth_date(birth: str) -> None:
    body = f"110105{birth}123"
    m = measure_id_number(body + check_character(body))
    assert m.well_formed and m.check_digit_ok is True
    assert m.birth_date is None
    assert not m.valid
    assert "birth date is not a real date" in m.problems()


def test_leap_day_birth_date() -> None:
    body = "11010520000229123"
    assert measure_id_number(body + check_character(body)).birth_date == dt.date(2000, 2, 29)


def test_birth_before_1880_is_not_accepted() -> None:
    body = "11010518791231123"
    assert measure_id_number(body + check_character(body)).birth_date is None


def test_future_birth_date_rejected_only_when_today_given() -> None:
    body = "11010520300101123"
    number = body + check_character(body)
    assert measure_id_number(number).birth_date == dt.date(2030, 1, 1)
    assert measure_id_number(number, today=dt.date(2026, 1, 1)).birth_date is None
    assert measure_id_number(number, today=dt.date(2030, 1, 1)).birth_date == dt.date(2030, 1, 1)


@pytest.mark.parametrize("prefix", ["000000", "999999", "990101"])
def test_unknown_region(prefix: str) -> None:
    body = f"{prefix}19900101123"
    m = measure_id_number(body + check_character(body))
    assert m.well_formed and m.check_digit_ok is True and m.birth_date is not None
    assert m.region is None
    assert not m.valid
    assert m.problems() == ["region code is unknown"]


def test_region_lookup() -> None:
    region = region_for("440305")
    assert region is not None and region.province == "广东省" and region.county == "南山区"
    assert region_for("000000") is None
    assert region_for("11010") is None
    assert region_for("11010a") is None


def test_legacy_15_digit_number() -> None:
    m = measure_id_number("110105491231002")
    assert m.well_formed
    assert m.legacy
    assert m.length == 15
    assert m.check_digit_ok is None
    assert m.birth_date == dt.date(1949, 12, 31)  # years are 19YY
    assert m.region is not None and m.region.code == "110105"
    assert m.valid


def test_legacy_number_year_is_19yy_even_for_00() -> None:
    m = measure_id_number("420102000101123")
    assert m.legacy and m.birth_date == dt.date(1900, 1, 1)


def test_legacy_number_with_impossible_date() -> None:
    m = measure_id_number("110105490230002")
    assert m.legacy and m.birth_date is None and not m.valid


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1101051949123100",  # 16
        "11010519491231002",  # 17
        "11010519491231002X1",  # 19
        "11010519491231002XX",
        "1101051949123",  # 13
        "11010A19491231002X",  # letter inside
        "X10105194912310021",  # X not last
        "11010519491231002Y",  # only X may be the check character
        "11010549123100X",  # 15 chars ending in X
        "110105-19491231-002X",
    ],
)
def test_not_well_formed(raw: str) -> None:
    m = measure_id_number(raw)
    assert not m.well_formed
    assert not m.valid
    assert m.check_digit_ok is None and m.birth_date is None and m.region is None
    problems = m.problems()
    assert len(problems) == 1 and "expected 18 characters" in problems[0]
    assert f"got {m.length}" in problems[0]


def test_lower_case_x_and_spaces_are_normalised() -> None:
    assert normalise(" 11010519491231002x ") == "11010519491231002X"
    assert normalise("110105 19491231 002x") == "11010519491231002X"
    m = measure_id_number("11010519491231002x")
    assert m.valid and m.check_digit_ok is True
    assert measure_id_number("110105 19491231 002X").valid


@pytest.mark.parametrize("digits", ["０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩"])
def test_non_ascii_digits_are_not_well_formed(digits: str) -> None:
    number = "11010519491231002X".translate(str.maketrans("0123456789", digits))
    m = measure_id_number(number)
    # Either refused as malformed, or read exactly like the ASCII number; never half-read.
    assert not m.well_formed or m == measure_id_number("11010519491231002X")


@pytest.mark.parametrize(
    ("birth", "today", "age"),
    [
        (dt.date(1990, 6, 15), dt.date(2026, 6, 14), 35),
        (dt.date(1990, 6, 15), dt.date(2026, 6, 15), 36),
        (dt.date(1990, 6, 15), dt.date(2026, 6, 16), 36),
        (dt.date(1990, 6, 15), dt.date(1990, 6, 15), 0),
        (dt.date(2000, 2, 29), dt.date(2026, 2, 28), 25),
        (dt.date(2000, 2, 29), dt.date(2026, 3, 1), 26),
        (dt.date(2000, 2, 29), dt.date(2028, 2, 29), 28),
        (dt.date(1949, 12, 31), dt.date(2026, 1, 1), 76),
    ],
)
def test_age_years(birth: dt.date, today: dt.date, age: int) -> None:
    assert age_years(birth, today) == age


@given(
    birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)),
    days=st.integers(min_value=0, max_value=120 * 366),
)
def test_age_years_property(birth: dt.date, days: int) -> None:
    today = birth + dt.timedelta(days=days)
    age = age_years(birth, today)
    assert age >= 0

    # The age-th birthday has passed, the next one has not (Feb 29 birthdays count on Mar 1).
    def birthday(year: int) -> dt.date:
        try:
            return birth.replace(year=year)
        except ValueError:
            return dt.date(year, 3, 1)

    assert birthday(birth.year + age) <= today < birthday(birth.year + age + 1)


@given(
    region=st.sampled_from(["110105", "420102", "440305", "510104"]),
    birth=st.dates(dt.date(1900, 1, 1), dt.date(1999, 12, 31)),
    order=st.integers(0, 999),
)
def test_both_forms_of_one_persons_number_share_one_key(region: str, birth: dt.date, order: int) -> None:
    legacy = f"{region}{birth:%y%m%d}{order:03d}"
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    reissued = body + check_character(body)
    assert person_key(legacy) == person_key(reissued) == person_key(reissued.lower()) == body
    assert person_key(f" {reissued[:6]} {reissued[6:]} ") == body  # as typed, with spaces


def test_a_number_of_neither_form_has_no_key() -> None:
    for bad in ("", "12345", "1101051949123100", "11010519491231002Y", "１１０１０５４９１２３１００２"):
        assert person_key(bad) is None
    # A wrong check character still names the same 17 digits: the typo is the ID check's finding.
    assert person_key("110105194912310029") == person_key("11010519491231002X") == "11010519491231002"
