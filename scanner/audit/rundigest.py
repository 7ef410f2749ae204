"""Digests over a run's findings, so a finding changed after the run is caught.

Each shard's findings are hashed as they are written (``findings_digest`` on ``scan_shard``, the
same transaction), in subscriber order: per finding its subscriber id, verdict, policy version and
preview flag, then its reasons, evidence and distances as the JSON text that is stored. The run's
digest hashes the shard digests in shard order and goes into the run's ``run.finish`` audit row,
which the chain protects. ``audit verify`` recomputes both from the finding rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson

# A finding as the shard writer holds it: (subscriber id, verdict, reasons, evidence, distances),
# the last three serialised JSON.
FindingText = tuple[int, str, str, str, str]


def finding_line(subscriber_id: int, verdict: str, policy_version: str, preview: bool, jsons: Iterable[str]) -> bytes:
    return (
        orjson.dumps([subscriber_id, verdict, policy_version, bool(preview)])
        + b"".join(b"\t" + j.encode() for j in jsons)
        + b"\n"
    )


def shard_digest(findings: Iterable[FindingText], policy_version: str, preview: bool) -> str:
    """The digest of a shard's findings as written (in subscriber order, whatever order they come in)."""
    h = hashlib.sha256()
    for sid, verdict, reasons, evidence, distances in sorted(findings, key=lambda f: f[0]):
        h.update(finding_line(sid, verdict, policy_version, preview, (reasons, evidence, distances)))
    return h.hexdigest()


class ShardHasher:
    """A shard digest fed one finding at a time, in subscriber order (the verifier's way)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, row: Any) -> None:
        self._h.update(
            finding_line(
                row.subscriber_id,
                row.verdict,
                row.policy_version,
                row.preview,
                (row.reasons, row.evidence, row.distances),
            )
        )

    def hexdigest(self) -> str:
        return self._h.hexdigest()


EMPTY_SHARD = hashlib.sha256().hexdigest()


def run_digest(shard_digests: Iterable[tuple[int, str | None]]) -> str:
    """The run's digest over its shards' digests, given as (shard number, digest) in shard order."""
    h = hashlib.sha256()
    for shard_no, digest in shard_digests:
        h.update(f"{shard_no}:{digest or ''}\n".encode())
    return h.hexdigest()
