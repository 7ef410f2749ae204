"""How many SMS parts a notice costs.

A text that uses only the GSM 03.38 default alphabet travels in 7-bit
characters: 160 in one message, 153 per part when it is split (the rest of
each part carries the concatenation header); the extension characters
(``^{}\\[~]|€`` and form feed) take two. Anything else, Chinese included, travels
as UCS-2: 70 UTF-16 code units in one message, 67 per part when split; a
character outside the Basic Multilingual Plane (most emoji) takes two units.

The operator's ``【signature】`` is added by the SMS platform and counts, so it
is part of the text measured here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "gsm7" or "ucs2"
    units: int  # septets for gsm7, UTF-16 code units for ucs2
    parts: int

    @property
    def single(self) -> bool:
        return self.parts == 1


def _gsm_septets(text: str) -> int | None:
    units = 0
    for ch in text:
        if ch in _GSM_BASIC:
            units += 1
        elif ch in _GSM_EXTENSION:
            units += 2
        else:
            return None
    return units


def count_segments(text: str, signature: str = "") -> SegmentCount:
    """The parts ``signature + text`` takes (an empty text still costs one message)."""
    full = signature + text
    septets = _gsm_septets(full)
    if septets is not None:
        return SegmentCount("gsm7", septets, 1 if septets <= GSM_SINGLE else math.ceil(septets / GSM_PART))
    units = len(full.encode("utf-16-le")) // 2
    return SegmentCount("ucs2", units, 1 if units <= UCS2_SINGLE else math.ceil(units / UCS2_PART))
