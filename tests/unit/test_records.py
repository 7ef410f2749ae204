"""One subscriber row: every defect named by column, nothing guessed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from checks.idcard import check_character
from scanner.photoroots import PhotoRoots
from scanner.records import RowError, SubscriberRecord, normalise_msisdn, validate_row

TODAY = dt.date(2026, 6, 1)
BASE = Path("/srv/import/batch-7")
# The import folder, a photo store beside it, another folder and a URL prefix.
ROOTS = PhotoRoots.of([str(BASE), "/srv/import/shared", "/data/photos", "s3://bucket/live/"], BASE)
VALID_ID = "11010519491231002X"


def _id(region: str, birth: str, order: str = "123") -> str:
    body = region + birth + order
    return body + check_character(body)


def good_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "account_id": "A-0001",
        "msisdn": "13012349990",
        "name": "张伟",
        "id_number": VALID_ID,
        "id_expires_on": "2030-05-01",
        "joined_on": "2019-03-15",
        "segment": "consumer",
        "id_portrait": "photos/a.jpg",
        "live_photo": "photos/b.jpg",
        "handheld_photo": "",
    }
    row.update(changes)
    return row


def check(row: dict[str, Any], keep_invalid_id: bool = False, line: int = 7) -> SubscriberRecord | RowError:
    return validate_row(row, line, ROOTS, TODAY, keep_invalid_id=keep_invalid_id)


def rejected(row: dict[str, Any], **kwargs: Any) -> RowError:
    result = check(row, **kwargs)
    assert isinstance(result, RowError), result
    return result


# --- mobile numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13012349990", "13012349990"),
        ("130 1234 9990", "13012349990"),
        ("130-1234-9990", "13012349990"),
        ("(130) 1234-9990", "13012349990"),
        ("+8613012349990", "13012349990"),
        ("+86 130 1234 9990", "13012349990"),
        ("008613012349990", "13012349990"),
        ("8613012349990", "13012349990"),
        ("19912340006", "19912340006"),
        ("17712340005", "17712340005"),
    ],
)
def test_valid_mobile_numbers(raw: str, expected: str) -> None:
    assert normalise_msisdn(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1301234999",  # 10 digits
        "130123499901",  # 12 digits
        "01088886666",  # Beijing landline
        "010-8888-6666",
        "02112345678",  # Shanghai landline
        "1301234abcd",  # letters
        "23012349990",  # does not start with 1
        "10012349990",  # no such mobile range
        "+1 650 253 0000",  # not a Chinese number
        "+85291234567",  # Hong Kong mobile
        "861301234999",  # country code but 10 national digits
    ],
)
def test_not_mainland_mobile_numbers(raw: str) -> None:
    assert normalise_msisdn(raw) is None


# --- a clean row ----------------------------------------------------------------------------------


def test_good_row_becomes_a_record() -> None:
    rec = check(good_row())
    assert isinstance(rec, SubscriberRecord)
    assert rec.account_id == "A-0001"
    assert rec.msisdn == "13012349990"
    assert rec.name == "张伟"
    assert rec.id_number == VALID_ID
    assert rec.id_legacy is False
    assert rec.id_expires_on == dt.date(2030, 5, 1)
    assert rec.joined_on == dt.date(2019, 3, 15)
    assert rec.segment == "consumer"
    assert rec.region_code == "110105"
    assert rec.id_defects == ()
    assert rec.photos == {
        "id_portrait": str((BASE / "photos/a.jpg").resolve()),
        "live": str((BASE / "photos/b.jpg").resolve()),
    }


def test_values_are_normalised() -> None:
    rec = check(
        good_row(
            account_id="  A-0001 ",
            msisdn="+86 130-1234-9990",
            name="  张伟 ",
            id_number=" 11010519491231002x",
            segment="Enterprise",
        )
    )
    assert isinstance(rec, SubscriberRecord)
    assert (rec.account_id, rec.msisdn, rec.name, rec.id_number, rec.segment) == (
        "A-0001",
        "13012349990",
        "张伟",
        VALID_ID,
        "enterprise",
    )


@pytest.mark.parametrize("value", ["长期", "long-term", "Long-Term", "longterm", "PERMANENT", ""])
def test_long_term_or_absent_expiry(value: str) -> None:
    rec = check(good_row(id_expires_on=value))
    assert isinstance(rec, SubscriberRecord)
    assert rec.id_expires_on is None


@pytest.mark.parametrize("value", ["", None])
def test_blank_segment_defaults_to_consumer(value: str | None) -> None:
    rec = check(good_row(segment=value))
    assert isinstance(rec, SubscriberRecord) and rec.segment == "consumer"


def test_photo_references() -> None:
    rec = check(
        good_row(
            id_portrait="/data/photos/id.jpg",
            live_photo="s3://bucket/live/a.jpg",
            handheld_photo="../shared/h.png",
        )
    )
    assert isinstance(rec, SubscriberRecord)
    assert rec.photos["id_portrait"] == "/data/photos/id.jpg"
    assert rec.photos["live"] == "s3://bucket/live/a.jpg"  # URLs are kept as written
    assert rec.photos["handheld"] == str((BASE / "../shared/h.png").resolve())


def test_a_photo_outside_the_roots_is_refused_naming_the_column() -> None:
    err = check(good_row(live_photo="../../../etc/passwd", handheld_photo="s3://other-bucket/a.jpg"))
    assert isinstance(err, RowError)
    text = str(err)
    assert "live_photo: '../../../etc/passwd' is outside the photo roots (/etc/passwd;" in text
    assert "handheld_photo: 's3://other-bucket/a.jpg': URL not under the photo roots" in text


def test_empty_photo_columns_are_absent() -> None:
    rec = check(good_row(id_portrait="", live_photo="  ", handheld_photo=None))
    assert isinstance(rec, SubscriberRecord) and rec.photos == {}


def test_legacy_number_is_accepted_and_marked() -> None:
    rec = check(good_row(id_number="110105491231002"))
    assert isinstance(rec, SubscriberRecord)
    assert rec.id_legacy is True
    assert rec.region_code == "110105"


def test_json_numbers_are_read_as_text() -> None:
    rec = check(good_row(msisdn=13012349990, id_number=420102199001011236))
    assert isinstance(rec, SubscriberRecord)
    assert rec.msisdn == "13012349990" and rec.id_number == "420102199001011236"


# --- defects, each named by its column -------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason_start"),
    [
        ({"account_id": ""}, "account_id: missing"),
        ({"account_id": "A 0001"}, "account_id:"),
        ({"account_id": "张伟"}, "account_id:"),
        ({"account_id": "-A1"}, "account_id:"),
        ({"account_id": "A" * 65}, "account_id:"),
        ({"msisdn": ""}, "msisdn: missing"),
        ({"msisdn": "1301234999"}, "msisdn: not an 11-digit mainland China mobile number"),
        ({"msisdn": "01088886666"}, "msisdn: not an 11-digit"),
        ({"msisdn": "1301234abcd"}, "msisdn: not an 11-digit"),
        ({"name": ""}, "name: missing"),
        ({"name": "   "}, "name: missing"),
        ({"id_number": ""}, "id_number: missing"),
        ({"id_number": "11010519491231002"}, "id_number: expected 18 characters"),
        ({"id_number": "11010A19491231002X"}, "id_number: expected 18 characters"),
        ({"id_expires_on": "2024/01/02"}, "id_expires_on: '2024/01/02' is not an ISO date (YYYY-MM-DD)"),
        ({"id_expires_on": "2024-13-01"}, "id_expires_on: '2024-13-01' is not an ISO date"),
        ({"id_expires_on": "2023-02-29"}, "id_expires_on: '2023-02-29' is not an ISO date"),
        ({"joined_on": ""}, "joined_on: missing"),
        ({"joined_on": "2024-1-2"}, "joined_on: '2024-1-2' is not an ISO date"),
        ({"joined_on": "20240102"}, "joined_on: '20240102' is not an ISO date"),
        ({"joined_on": "02/01/2024"}, "joined_on: '02/01/2024' is not an ISO date"),
        ({"joined_on": "2026-06-02"}, "joined_on: 2026-06-02 is in the future"),
        ({"segment": "vip"}, "segment: 'vip' is not one of consumer, enterprise, government, iot"),
    ],
)
def test_defect_is_named_by_column(changes: dict[str, Any], reason_start: str) -> None:
    err = rejected(good_row(**changes))
    assert err.line == 7
    assert any(r.startswith(reason_start) for r in err.reasons), err.reasons
    assert err.id_only is False
    assert err.row == good_row(**changes)


def test_joined_today_is_not_in_the_future() -> None:
    assert isinstance(check(good_row(joined_on=TODAY.isoformat())), SubscriberRecord)


def test_all_defects_reported_together() -> None:
    err = rejected(good_row(msisdn="123", name="", joined_on="2024/01/02", segment="vip"))
    columns = [r.split(":", 1)[0] for r in err.reasons]
    assert columns == ["msisdn", "name", "joined_on", "segment"]


def test_missing_keys_count_as_missing_values() -> None:
    err = rejected({"account_id": "A1"})
    assert {"msisdn: missing", "name: missing", "id_number: missing", "joined_on: missing"} <= set(err.reasons)


def test_row_error_text_names_line_and_account() -> None:
    err = rejected(good_row(msisdn="123"), line=12)
    assert str(err) == "line 12 (account A-0001): msisdn: not an 11-digit mainland China mobile number"
    anonymous = rejected(good_row(account_id="", msisdn="123"), line=3)
    assert str(anonymous).startswith("line 3: account_id: missing")


# --- defects in the ID number's content --------------------------------------------------------------

ID_CONTENT_DEFECTS = [
    (VALID_ID[:-1] + "1", "id_number: check digit does not match"),
    (_id("110105", "19900230"), "id_number: birth date is not a real date"),
    (_id("110105", "20300101"), "id_number: birth date is not a real date"),  # born after TODAY
    (_id("000000", "19900101"), "id_number: region code is unknown"),
]


@pytest.mark.parametrize(("number", "reason"), ID_CONTENT_DEFECTS)
def test_id_content_defect_rejected_by_default(number: str, reason: str) -> None:
    err = rejected(good_row(id_number=number))
    assert len(err.reasons) == 1 and err.reasons[0].startswith(reason), err.reasons
    assert err.id_only is True


@pytest.mark.parametrize(("number", "reason"), ID_CONTENT_DEFECTS)
def test_id_content_defect_kept_when_asked(number: str, reason: str) -> None:
    rec = check(good_row(id_number=number), keep_invalid_id=True)
    assert isinstance(rec, SubscriberRecord)
    assert rec.id_number == number
    assert len(rec.id_defects) == 1 and rec.id_defects[0].startswith(reason), rec.id_defects


def test_kept_unknown_region_has_no_region_code() -> None:
    rec = check(good_row(id_number=_id("000000", "19900101")), keep_invalid_id=True)
    assert isinstance(rec, SubscriberRecord) and rec.region_code is None


@pytest.mark.parametrize("number", ["11010519491231002", "11010519491231002X1", "11010A19491231002X", "ABC"])
def test_malformed_id_rejected_even_when_keeping_invalid_ids(number: str) -> None:
    err = rejected(good_row(id_number=number), keep_invalid_id=True)
    assert err.id_only is False
    assert err.reasons[0].startswith("id_number: expected 18 characters")


def test_id_defect_with_another_defect_is_not_keepable() -> None:
    err = rejected(good_row(id_number=VALID_ID[:-1] + "1", msisdn="123"), keep_invalid_id=True)
    assert err.id_only is False
    assert err.reasons == (
        "msisdn: not an 11-digit mainland China mobile number",
        "id_number: check digit does not match (GB 11643 / ISO 7064 MOD 11-2)",
    )


def test_several_id_defects_are_all_listed() -> None:
    body = "00000019900230123"
    number = body + ("0" if check_character(body) != "0" else "1")
    err = rejected(good_row(id_number=number))
    assert [r.split(": ", 1)[1].split(" (")[0] for r in err.reasons] == [
        "check digit does not match",
        "birth date is not a real date",
        "region code is unknown",
    ]
