"""SMS part counts: UCS-2 for Chinese (70, then 67 per part), GSM 7-bit otherwise (160, then 153)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notices.segments import count_segments

SIGNATURE = "【示例移动】"  # 6 characters, added by the platform, counted


@pytest.mark.parametrize(
    ("body_chars", "parts"),
    [(0, 1), (64, 1), (65, 2), (128, 2), (129, 3), (195, 3), (196, 4)],
)
def test_chinese_notices_count_the_signature_and_split_at_67(body_chars: int, parts: int) -> None:
    # With the 6-character signature: 70 fit in one message; 71..134 take two; 135..201 three.
    count = count_segments("实" * body_chars, SIGNATURE)
    assert count.encoding == "ucs2" and count.units == body_chars + 6
    assert count.parts == parts


def test_a_real_notice_text() -> None:
    text = (
        "尊敬的客户，您的号码130****9990的实名登记照片不符合新的核验标准（照片不清晰）。"
        "请于2026年12月15日前通过官方App“在线重新核验”完成认证，或携带身份证到营业厅办理。"
    )
    count = count_segments(text, SIGNATURE)
    assert count.encoding == "ucs2"
    assert count.units == len(SIGNATURE) + len(text)
    assert count.units > 70 and count.parts == math.ceil(count.units / 67)


def test_plain_ascii_uses_the_7_bit_alphabet_and_its_extension_characters_take_two() -> None:
    assert count_segments("a" * 160).parts == 1
    assert count_segments("a" * 161).parts == 2
    assert count_segments("a" * 306).parts == 2
    assert count_segments("a" * 307).parts == 3
    euro = count_segments("€" * 80)
    assert (euro.encoding, euro.units, euro.parts) == ("gsm7", 160, 1)


def test_one_character_outside_the_alphabet_makes_the_whole_text_ucs2() -> None:
    assert count_segments("a" * 70).parts == 1
    mixed = count_segments("a" * 70 + "实")
    assert (mixed.encoding, mixed.units, mixed.parts) == ("ucs2", 71, 2)


def test_emoji_take_two_utf16_units() -> None:
    count = count_segments("🙂" * 35)
    assert (count.units, count.parts) == (70, 1)
    assert count_segments("🙂" * 36).parts == 2


@given(st.text(max_size=400), st.sampled_from(["", SIGNATURE]))
def test_parts_are_the_fewest_that_hold_the_text(text: str, signature: str) -> None:
    count = count_segments(text, signature)
    single, part = (160, 153) if count.encoding == "gsm7" else (70, 67)
    assert count.parts >= 1
    if count.units <= single:
        assert count.parts == 1
    else:
        assert (count.parts - 1) * part < count.units <= count.parts * part
