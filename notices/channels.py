"""The channels a notice goes by. Kept apart from the ladder (a pydantic model) so that the queue
commands, which take a channel on their command line, do not load pydantic."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    CALL = "call"  # a task for an agent
    LETTER = "letter"
    APP = "app"
