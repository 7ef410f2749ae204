"""The audit log's hash chain: what a row's digest is made of.

A row's digest is ``sha256(prev_digest + content)``, where the content is the canonical JSON (keys
sorted, no spaces, orjson) of its ``seq``, ``at`` (UTC, ISO 8601), ``actor``, ``action``, ``subject``,
``subscriber_id`` and ``detail``. The detail is stored in that same canonical form, so a verifier can
splice the stored JSON text in without parsing it. The first row's previous digest is ``GENESIS``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

GENESIS = "0" * 64
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY


def canonical_detail(detail: Mapping[str, Any]) -> bytes:
    """The detail as canonical JSON (keys sorted at every level)."""
    return orjson.dumps(dict(detail), option=_CANONICAL)


def at_text(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()


def content(
    seq: int, at: str, actor: str, action: str, subject: str, subscriber_id: int | None, detail_json: bytes
) -> bytes:
    """The row's canonical JSON: the same bytes as ``orjson.dumps(row, OPT_SORT_KEYS)`` of its fields,
    with the detail's canonical text spliced in as it is stored."""
    head = orjson.dumps({"action": action, "actor": actor, "at": at})
    tail = orjson.dumps({"seq": seq, "subject": subject, "subscriber_id": subscriber_id})
    return head[:-1] + b',"detail":' + detail_json + b"," + tail[1:]


def digest(prev_digest: str, row_content: bytes) -> str:
    return hashlib.sha256(prev_digest.encode() + row_content).hexdigest()
