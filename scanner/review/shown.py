"""What a reviewer was shown when deciding, as the decision row keeps it: which photo files (by
sha256), which measurements against which thresholds, which face scores in which bands. Enough to
tell later whether the same evidence would be shown again; no photo and no full number."""

from __future__ import annotations

from typing import Any

from scanner.review.detail import ItemDetail


def shown_of(detail: ItemDetail) -> dict[str, Any]:
    return {
        "item": detail.id,
        "photos": {p.kind: p.sha256 for p in detail.photos},
        "reasons": list(detail.reasons),
        "evidence": [
            {k: e.get(k) for k in ("code", "severity", "photo_kind", "measure", "value", "threshold")}
            for e in detail.evidence
        ],
        "match": [{k: m[k] for k in ("pair", "measure", "value", "band")} for m in detail.match],
    }
