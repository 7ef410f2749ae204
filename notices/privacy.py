"""Masks for personal numbers shown in reports, logs and messages."""

from __future__ import annotations

import re

# Runs of 7 or more digits (with an ID number's check character): mobile, ID and account numbers.
_LONG_NUMBER = re.compile(r"(?<![0-9])[0-9]{7,}[Xx]?")


def mask_number(value: str, head: int = 3, tail: int = 4) -> str:
    """Keep the first ``head`` and last ``tail`` characters, star the rest.

    ``13012349990`` -> ``130****9990``; ``11010519491231002X`` ->
    ``110***********002X`` (region and birth date hidden).
    """
    value = value.strip()
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


def mask_text(text: str) -> str:
    """Free text (an error message, a traceback) with every long number in it masked."""
    return _LONG_NUMBER.sub(lambda m: mask_number(m.group(0)), text)


def mask_name(name: str) -> str:
    """The first character of a name, the rest starred: ``张三丰`` -> ``张**``."""
    name = name.strip()
    return name[:1] + "*" * (len(name) - 1) if name else ""
