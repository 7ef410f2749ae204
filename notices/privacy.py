"""Masks for personal numbers shown in reports, logs and messages."""

from __future__ import annotations


def mask_number(value: str, head: int = 3, tail: int = 4) -> str:
    """Keep the first ``head`` and last ``tail`` characters, star the rest.

    ``13012349990`` -> ``130****9990``; ``11010519491231002X`` ->
    ``110***********002X`` (region and birth date hidden).
    """
    value = value.strip()
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]
