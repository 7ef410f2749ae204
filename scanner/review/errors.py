"""The review queue's errors: each message names the item or the reviewer."""

from __future__ import annotations


class ReviewError(ValueError):
    """A review command that cannot be applied."""


class NotFound(ReviewError):
    """No such item, reviewer or subscriber."""


class NotYours(ReviewError):
    """The item is assigned to another reviewer, or its lease has expired."""
