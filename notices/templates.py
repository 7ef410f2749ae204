"""Notice texts in Chinese, rendered from a template code and parameters.

A rendered notice names the subscriber's number only masked (``130****9990``),
says the reason in plain words, the deadline date, the online re-verification
link and the in-store option, and never holds an ID number: ``render`` is not
given one. The operator's ``【signature】`` is added by the SMS platform; it is
counted in the parts (``notices.segments``) but not written into the text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from notices.privacy import mask_number
from notices.reasons import GENERAL, REASONS
from notices.segments import SegmentCount, count_segments

TEMPLATES: dict[str, str] = {
    "first_notice": (
        "尊敬的客户：您的号码{msisdn}登记的实名资料需要重新核验（{reason}）。"
        "请于{deadline}前通过{link}在线核验，或携带本人有效身份证件到营业厅办理。"
    ),
    "reminder": (
        "温馨提醒：您的号码{msisdn}尚未完成实名资料重新核验（{reason}）。"
        "请于{deadline}前通过{link}在线核验，或携带本人有效身份证件到营业厅办理。"
    ),
    "final_notice": (
        "重要提醒：您的号码{msisdn}的实名资料仍未重新核验（{reason}）。{deadline}前未完成的，"
        "号码将依规暂停服务。在线核验：{link}，或携带本人有效身份证件到营业厅办理。"
    ),
    "recapture_notice": (
        "尊敬的客户：经人工审核，您的号码{msisdn}登记的照片需要重新拍摄（{reason}）。"
        "请于{deadline}前通过{link}上传本人照片，或携带本人有效身份证件到营业厅办理。"
    ),
    "confirmation": "您的号码{msisdn}已完成实名资料重新核验，感谢您的配合。",
}

# Reason codes in plain words: the notice's short phrase from the one table of reasons.
REASON_WORDS: dict[str, str] = {code: text.short for code, text in REASONS.items()}
GENERAL_REASON = GENERAL.short
MAX_REASONS = 2  # more would push most notices into a third part


@dataclass(frozen=True)
class RenderedNotice:
    template: str
    params: dict[str, Any]  # what was filled in: the number masked, never a full one
    text: str
    segments: SegmentCount


def reason_words(codes: list[str]) -> str:
    words = list(dict.fromkeys(REASON_WORDS.get(code, GENERAL_REASON) for code in codes))
    if not words:
        return GENERAL_REASON
    shown = "、".join(words[:MAX_REASONS])
    return shown + ("等" if len(words) > MAX_REASONS else "")


def render(
    template: str,
    *,
    msisdn: str,
    reasons: list[str],
    deadline: dt.date | None,
    link: str,
    signature: str,
) -> RenderedNotice:
    """The text of ``template`` for this subscriber; raises ``KeyError`` for an unknown template."""
    if template not in TEMPLATES:
        raise KeyError(f"unknown notice template {template!r} (known: {', '.join(sorted(TEMPLATES))})")
    params: dict[str, Any] = {
        "msisdn": mask_number(msisdn),
        "reason": reason_words(reasons),
        "deadline": f"{deadline.year}年{deadline.month}月{deadline.day}日" if deadline else "",
        "link": link,
    }
    text = TEMPLATES[template].format(**params)
    return RenderedNotice(template, params, text, count_segments(text, signature))
