"""What the relay says to Kannel and what Kannel's delivery reports mean to the queue.

Kannel's sendsms interface answers ``202 0: Accepted for delivery`` (or ``3: Queued for later
delivery`` while the SMSC link is down) without a message id, and the ``%I``/``%F`` escapes of its
delivery-report URL change between the SMSC's acknowledgement and the final report. So the relay
names each submission itself, ``rn-<notice>-<attempt>``: that name goes into the report URL and is the
gateway message id the notice is acknowledged with, and every report comes back to it.

A report's type (``%d``) is a bit of the ``dlr-mask``: 1 delivered to the phone, 2 not delivered, 4
queued on the SMSC, 8 accepted by the SMSC, 16 rejected by the SMSC. Over SMPP its reply (``%A``) is
the SMSC's own receipt (``id:... stat:DELIVRD err:000 ...``); the SMSC's stat is kept where there is
one, and the type decides otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from notices.queue import SMPP_STAT

DLR_MASK = 1 | 2 | 4 | 8 | 16
STAT_OF_TYPE = {1: "DELIVRD", 2: "UNDELIV", 4: "ENROUTE", 8: "ACCEPTD", 16: "REJECTD"}
_STAT = re.compile(r"\bstat:([A-Za-z]+)")
_ERR = re.compile(r"\berr:([0-9A-Za-z]+)")
_NAME = re.compile(r"rn-(\d+)-(\d+)")


class ReportError(ValueError):
    """A delivery report the relay cannot apply; the message says which part is wrong."""


def submission_id(notice_id: int, attempt: int) -> str:
    """The relay's name for one submission of a notice: its gateway message id."""
    return f"rn-{notice_id}-{attempt}"


def parse_submission_id(value: str) -> tuple[int, int]:
    found = _NAME.fullmatch(value.strip())
    if found is None:
        raise ReportError(f"delivery report for {value[:40]!r}: not a submission of this relay (rn-NOTICE-ATTEMPT)")
    return int(found.group(1)), int(found.group(2))


@dataclass(frozen=True)
class Report:
    submission: str  # rn-<notice>-<attempt>
    stat: str  # an SMPP stat: the SMSC's own, else the one the type stands for
    error: str | None  # the SMSC's error code or Kannel's NACK text, for an undelivered report
    dlr_type: int


def report_of(submission: str, dlr_type: str | int, reply: str = "") -> Report:
    """A Kannel delivery report (the ``id``, ``%d`` and ``%A`` of the report URL) as a queue receipt."""
    parse_submission_id(submission)
    try:
        kind = int(dlr_type)
    except (TypeError, ValueError):
        raise ReportError(f"delivery report for {submission}: type {dlr_type!r} is not a number") from None
    if kind not in STAT_OF_TYPE:
        raise ReportError(f"delivery report for {submission}: type {kind} is not one of {sorted(STAT_OF_TYPE)}")
    own = _STAT.search(reply or "")
    stat = own.group(1).upper() if own and own.group(1).upper() in SMPP_STAT else STAT_OF_TYPE[kind]
    error = None
    if SMPP_STAT[stat].value == "undelivered":
        code = _ERR.search(reply or "")
        error = f"err:{code.group(1)}" if code else (reply.strip()[:200] or f"kannel dlr type {kind}")
    return Report(submission.strip(), stat, error, kind)


def sendsms_query(
    *, user: str, password: str, to: str, sender: str, text: str, report_url: str, smsc: str | None = None
) -> str:
    """The query string of a sendsms request: the text in UCS-2 (``coding=2``, sent as UTF-8), every
    report type asked for, and the report URL with Kannel's escapes for the type and the SMSC's reply."""
    params = {
        "username": user,
        "password": password,
        "to": to,
        "from": sender,
        "text": text,
        "coding": "2",
        "charset": "UTF-8",
        "dlr-mask": str(DLR_MASK),
        "dlr-url": report_url + ("&" if "?" in report_url else "?") + "type=%d&reply=%A",
    }
    if smsc:
        params["smsc"] = smsc
    return urlencode(params)
