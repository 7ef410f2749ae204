"""Kannel's delivery reports as the queue's receipts, and the sendsms request the relay makes."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notices.queue import ReceiptOutcome, receipt_outcome
from scanner.relay.kannel import (
    DLR_MASK,
    ReportError,
    parse_submission_id,
    report_of,
    sendsms_query,
    submission_id,
)

RECEIPT = "id:00000001 sub:001 dlvrd:{d} submit date:2612041010 done date:2612041010 stat:{s} err:{e} text:"


def test_the_smscs_own_stat_is_kept_and_the_type_decides_otherwise() -> None:
    delivered = report_of("rn-7-1", "1", RECEIPT.format(d="001", s="DELIVRD", e="000"))
    assert (delivered.stat, delivered.error) == ("DELIVRD", None)
    failed = report_of("rn-7-1", 2, RECEIPT.format(d="000", s="UNDELIV", e="001"))
    assert (failed.stat, failed.error) == ("UNDELIV", "err:001")
    expired = report_of("rn-7-1", 2, RECEIPT.format(d="000", s="EXPIRED", e="027"))
    assert expired.stat == "EXPIRED" and receipt_outcome(expired.stat) is ReceiptOutcome.UNDELIVERED
    assert report_of("rn-7-1", 8, "ACK/").stat == "ACCEPTD"  # accepted by the SMSC: still on its way
    assert report_of("rn-7-1", 4, RECEIPT.format(d="000", s="ENROUTE", e="000")).stat == "ENROUTE"
    assert report_of("rn-7-1", 1, "").stat == "DELIVRD"  # the fake SMSC sends no receipt text
    nack = report_of("rn-7-1", 16, "NACK/0x00000045/Submit failed")
    assert (nack.stat, nack.error) == ("REJECTD", "NACK/0x00000045/Submit failed")


def test_reports_the_relay_did_not_ask_for_are_refused_by_name() -> None:
    with pytest.raises(ReportError, match="not a submission of this relay"):
        report_of("123", 1)
    with pytest.raises(ReportError, match="rn-7-1: type 3 is not one of"):
        report_of("rn-7-1", 3)
    with pytest.raises(ReportError, match="is not a number"):
        report_of("rn-7-1", "x")


@given(st.integers(1, 10**12), st.integers(1, 50))
def test_a_submission_names_its_notice_and_attempt(notice: int, attempt: int) -> None:
    assert parse_submission_id(submission_id(notice, attempt)) == (notice, attempt)


@given(st.sampled_from([1, 2, 4, 8, 16]), st.text(max_size=200))
def test_every_report_type_gives_a_stat_the_queue_knows(kind: int, reply: str) -> None:
    assert receipt_outcome(report_of("rn-1-1", kind, reply).stat) in set(ReceiptOutcome)


def test_the_sendsms_request_asks_for_ucs2_and_every_report() -> None:
    query = parse_qs(
        sendsms_query(
            user="notify",
            password="s3cret&=",
            to="8613012349990",
            sender="10086",
            text="您的号码需重新核验",
            report_url="http://127.0.0.1:18080/dlr?id=rn-7-1",
        )
    )
    assert query["coding"] == ["2"] and query["charset"] == ["UTF-8"] and query["dlr-mask"] == [str(DLR_MASK)]
    assert query["text"] == ["您的号码需重新核验"] and query["password"] == ["s3cret&="]
    assert query["dlr-url"] == ["http://127.0.0.1:18080/dlr?id=rn-7-1&type=%d&reply=%A"]
