"""Notice texts: masked numbers, plain-word reasons, deadline, link and store option, part counts."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notices.templates import GENERAL_REASON, REASON_WORDS, TEMPLATES, reason_words, render

SIGNATURE = "【示例移动】"
LINK = "https://rv.example.cn/r"


def _render(template: str, msisdn: str = "13012349990", reasons: list[str] | None = None) -> object:
    return render(
        template,
        msisdn=msisdn,
        reasons=["BLURRY"] if reasons is None else reasons,
        deadline=dt.date(2026, 12, 15),
        link=LINK,
        signature=SIGNATURE,
    )


@pytest.mark.parametrize("template", ["first_notice", "reminder", "final_notice", "recapture_notice"])
def test_ladder_notices_say_number_reason_deadline_link_and_store(template: str) -> None:
    notice = _render(template)
    text = notice.text  # type: ignore[attr-defined]
    assert "130****9990" in text and "13012349990" not in text
    assert "照片不清晰" in text and "2026年12月15日" in text and LINK in text and "营业厅" in text
    assert notice.params["msisdn"] == "130****9990"  # type: ignore[attr-defined]
    parts = notice.segments  # type: ignore[attr-defined]
    assert parts.encoding == "ucs2" and parts.units == len(SIGNATURE) + len(text)
    assert parts.parts == 2  # about 90-100 characters with the signature: two parts of at most 67


def test_the_confirmation_fits_one_message() -> None:
    notice = _render("confirmation")
    assert notice.segments.parts == 1 and "130****9990" in notice.text  # type: ignore[attr-defined]


def test_reasons_are_plain_words_at_most_two_and_unknown_codes_are_general() -> None:
    assert reason_words(["MOUTH_NOSE_OCCLUDED", "ID_EXPIRED"]) == "口鼻被遮挡、身份证件已过有效期"
    assert reason_words(["BLURRY", "TOO_DARK", "NO_FACE"]) == "照片不清晰、照片过暗等"
    assert reason_words([]) == GENERAL_REASON
    assert reason_words(["SOMETHING_NEW"]) == GENERAL_REASON
    assert all(code.isupper() and words for code, words in REASON_WORDS.items())


def test_every_reason_code_of_the_checks_has_words() -> None:
    from checks.policy import ReasonCode

    assert {code.value for code in ReasonCode} <= REASON_WORDS.keys()


def test_an_unknown_template_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="no_such"):
        _render("no_such")


@given(
    st.sampled_from(sorted(TEMPLATES)),
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.lists(st.sampled_from(sorted(REASON_WORDS)), max_size=4),
)
def test_no_rendered_notice_holds_the_full_number(template: str, msisdn: str, reasons: list[str]) -> None:
    notice = _render(template, msisdn, reasons)
    text = notice.text  # type: ignore[attr-defined]
    assert msisdn not in text
    assert f"{msisdn[:3]}****{msisdn[-4:]}" in text


def test_every_reason_code_has_a_sentence_in_both_languages() -> None:
    from checks.policy import ReasonCode
    from notices.reasons import REASONS, reason_text

    assert {code.value for code in ReasonCode} <= REASONS.keys()
    for code, text in REASONS.items():
        assert text.zh.endswith("。") and text.en.endswith("."), code
        assert text.short in REASON_WORDS.values()
    assert reason_text("SOMETHING_NEW").short == GENERAL_REASON
