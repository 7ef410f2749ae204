"""Which run a report is about, its summary, the run before it, and the thresholds of its policy."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from scanner.models import ScanRun
from scanner.policyfile import DEFAULT_POLICY
from scanner.tables import SCAN_RUN


class ReportError(LookupError):
    pass


def find_run(session: Session, run_id: int | None) -> ScanRun:
    if run_id is None:
        run = session.exec(sm_select(ScanRun).order_by(col(ScanRun.id).desc())).first()
        if run is None:
            raise ReportError("no scan runs yet: run `realname rescan` first")
        return run
    run = session.get(ScanRun, run_id)
    if run is None:
        raise ReportError(f"no scan run with id {run_id}")
    return run


def run_summary(run: ScanRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "policy": {"name": run.policy_name, "version": run.policy_version, "sha256": run.policy_sha256},
        "mode": run.mode,
        "as_of": run.as_of.isoformat(),
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def previous_run(conn: Connection, run: ScanRun) -> int | None:
    """The latest finished run of the same mode before ``run``, if any."""
    query = (
        select(SCAN_RUN.c.id)
        .where(SCAN_RUN.c.id < run.id, SCAN_RUN.c.mode == run.mode, SCAN_RUN.c.status == "finished")
        .order_by(SCAN_RUN.c.id.desc())
        .limit(1)
    )
    found = conn.execute(query).scalar()
    return int(found) if found is not None else None


def _flatten(prefix: str, table: dict[str, Any], out: list[tuple[str, str]]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, out)
        elif isinstance(value, list):
            out.append((name, ", ".join(" ~ ".join(map(str, v)) if isinstance(v, list) else str(v) for v in value)))
        else:
            out.append((name, str(value)))


def policy_file(policy_path: str, policy_sha256: str) -> tuple[str, bytes] | None:
    """The file a run's policy was read from (the recorded path, else the bundled default) and its
    bytes, when they still have the run's sha256; None when no such file is found (it moved or
    changed since: the run's thresholds and severities can no longer be read)."""
    for candidate in (policy_path, str(DEFAULT_POLICY)):
        if not candidate:
            continue
        try:
            raw = Path(candidate).read_bytes()
        except OSError:
            continue
        if hashlib.sha256(raw).hexdigest() == policy_sha256:
            return candidate, raw
    return None


def policy_thresholds(run: ScanRun) -> tuple[str | None, list[tuple[str, str]]]:
    """The run's policy file (``policy_file``) and its photo rules, checks and severities as
    (key, value) pairs; (None, []) when no file with the run's bytes is found."""
    found = policy_file(run.policy_path, run.policy_sha256)
    if found is None:
        return None, []
    candidate, raw = found
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None, []
    pairs: list[tuple[str, str]] = []
    zone = document.get("policy", {}).get("timezone")
    if isinstance(zone, str):
        pairs.append(("policy.timezone", zone))
    for section in ("photos", "checks", "severity"):
        if isinstance(document.get(section), dict):
            _flatten(section, document[section], pairs)
    return candidate, pairs


def severities(thresholds: list[tuple[str, str]]) -> dict[str, str]:
    """Each reason code's severity under a policy read by ``policy_thresholds``: the defaults, with the
    policy's own ``[severity]`` table over them."""
    from checks.policy import DEFAULT_SEVERITY

    out = {code.value: severity.value for code, severity in DEFAULT_SEVERITY.items()}
    out.update({key.removeprefix("severity."): value for key, value in thresholds if key.startswith("severity.")})
    return out
