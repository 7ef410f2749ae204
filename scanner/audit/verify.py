"""``audit verify``: the audit log's chain, the runs' findings digests and the cases' histories.

The log is read in pages in ``seq`` order and every row checked twice: its link (``seq`` one past the
row before it, ``prev_digest`` that row's digest) and its own digest (recomputed from its content).
The first row that fails is classified:

- link intact, own digest wrong: the row was **altered**;
- a ``seq`` repeated: the second row was **inserted**;
- ``prev_digest`` is the digest of the row two back: the row before it was **inserted**;
- ``prev_digest`` is the digest of a row found later in the log: the row was **reordered** (moved
  before rows it followed); likewise a gap whose missing row turns up later;
- a gap in ``seq``: the missing row was **deleted**;
- ``seq`` contiguous, ``prev_digest`` matching no row: if the row's own digest still holds, the row
  before it was **altered** and given a new digest; otherwise rows were **deleted** and the rest
  renumbered.

A rewrite of the whole chain from some row on passes these checks; an anchor (a row's digest kept
elsewhere, e.g. the head printed in an earlier report) catches it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Text, cast, func, select, tuple_
from sqlalchemy.engine import Connection, Row

from scanner.audit.chain import GENESIS, at_text, canonical_detail, content, digest
from scanner.audit.rundigest import ShardHasher, run_digest
from scanner.enforce.cases import line_digest
from scanner.tables import AUDIT_EVENT, CASE_TRANSITION, FINDING, SCAN_RUN, SCAN_SHARD

PAGE = 20_000


@dataclass(frozen=True)
class Break:
    """The first row of the log that is not as it was written."""

    seq: int
    kind: str  # altered | deleted | inserted | reordered
    why: str


@dataclass(frozen=True)
class RunProblem:
    run_id: int
    shards: list[int]  # shards whose findings no longer give their digest
    why: str


@dataclass
class Verification:
    rows: int = 0
    head_seq: int = 0
    head_digest: str = GENESIS
    log_break: Break | None = None
    runs_checked: int = 0
    run_problems: list[RunProblem] = field(default_factory=list)
    cases_checked: int = 0
    broken_cases: list[int] = field(default_factory=list)
    anchor: tuple[int, str] | None = None
    anchor_problem: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # each part's time: log, runs, cases

    @property
    def intact(self) -> bool:
        return not (self.log_break or self.run_problems or self.broken_cases or self.anchor_problem)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "rows_checked": self.rows,
            "head": {"seq": self.head_seq, "digest": self.head_digest},
            "first_break": None if self.log_break is None else self.log_break.__dict__,
            "runs_checked": self.runs_checked,
            "runs_altered": [p.__dict__ for p in self.run_problems],
            "cases_checked": self.cases_checked,
            "cases_broken": self.broken_cases,
            "anchor": None if self.anchor is None else {"seq": self.anchor[0], "digest": self.anchor[1]},
            "anchor_problem": self.anchor_problem,
            "seconds": self.seconds,
        }


_LOG_COLUMNS = (
    AUDIT_EVENT.c.seq,
    AUDIT_EVENT.c.id,
    AUDIT_EVENT.c.at,
    AUDIT_EVENT.c.actor,
    AUDIT_EVENT.c.action,
    AUDIT_EVENT.c.subject,
    AUDIT_EVENT.c.subscriber_id,
    cast(AUDIT_EVENT.c.detail, Text).label("detail"),
    AUDIT_EVENT.c.prev_digest,
    AUDIT_EVENT.c.digest,
)


def _log_rows(conn: Connection, page: int) -> Iterator[Row[Any]]:
    """The log in (seq, id) order, a page at a time."""
    after: tuple[int, int] | None = None
    while True:
        query = select(*_LOG_COLUMNS).order_by(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.id).limit(page)
        if after is not None:
            query = query.where(tuple_(AUDIT_EVENT.c.seq, AUDIT_EVENT.c.id) > tuple_(*after))
        rows = conn.execute(query).all()
        yield from rows
        if len(rows) < page:
            return
        after = (rows[-1].seq, rows[-1].id)


def own_digest(row: Row[Any], detail: Any = None, stamp: str | None = None) -> str:
    """The digest the row's content gives (``detail``: its detail already parsed; ``stamp``: its time
    as text)."""
    detail_json = canonical_detail(orjson.loads(row.detail) if detail is None else detail)
    stamp = stamp or at_text(row.at)
    body = content(row.seq, stamp, row.actor, row.action, row.subject, row.subscriber_id, detail_json)
    return digest(row.prev_digest, body)


def _seq_of_digest(conn: Connection, value: str) -> int | None:
    found = conn.execute(select(AUDIT_EVENT.c.seq).where(AUDIT_EVENT.c.digest == value).limit(1)).first()
    return None if found is None else int(found.seq)


def _classify(conn: Connection, row: Row[Any], own_ok: bool, prev: tuple[int, str], before: tuple[int, str]) -> Break:
    """The first row whose link or own digest fails: what was done, and to which seq."""
    prev_seq, prev_digest = prev
    linked = row.prev_digest == prev_digest and row.seq == prev_seq + 1
    if linked:
        return Break(row.seq, "altered", "its content no longer gives its digest")
    if row.seq == prev_seq:
        return Break(row.seq, "inserted", f"a second row with seq {row.seq}")
    if prev_seq > 0 and row.prev_digest == before[1]:
        return Break(prev_seq, "inserted", f"row {row.seq} follows row {before[0]}: row {prev_seq} between them is new")
    elsewhere = _seq_of_digest(conn, row.prev_digest)
    if row.seq > prev_seq + 1:
        missing = f"{prev_seq + 1}" if row.seq == prev_seq + 2 else f"{prev_seq + 1}..{row.seq - 1}"
        if elsewhere is not None and elsewhere > row.seq:
            return Break(prev_seq + 1, "reordered", f"row {missing} is missing here and was moved to seq {elsewhere}")
        return Break(prev_seq + 1, "deleted", f"row {missing} is missing (row {row.seq} follows row {prev_seq})")
    if elsewhere is not None and elsewhere != prev_seq:
        return Break(row.seq, "reordered", f"it follows the row now at seq {elsewhere}, not row {prev_seq}")
    if own_ok:
        return Break(prev_seq, "altered", f"row {row.seq} links to a digest row {prev_seq} no longer has (rehashed)")
    return Break(row.seq, "deleted", "it links to a row no longer in the log (rows deleted and the rest renumbered)")


@dataclass
class Recorded:
    """What the log says about other tables: each finished run's findings digest, and each case's
    last history line (its number and digest)."""

    runs: dict[int, str] = field(default_factory=dict)
    cases: dict[int, tuple[int, str]] = field(default_factory=dict)


def verify_log(conn: Connection, result: Verification, page: int = PAGE) -> Recorded:
    """Walk the chain into ``result``; returns what the intact part of the log recorded."""
    recorded = Recorded()
    prev, before = (0, GENESIS), (0, GENESIS)
    last_at, stamp = None, ""
    for row in _log_rows(conn, page):
        result.rows += 1
        detail = orjson.loads(row.detail)
        if row.at != last_at:  # rows appended together share their time
            last_at, stamp = row.at, at_text(row.at)
        own_ok = own_digest(row, detail, stamp) == row.digest
        if not (own_ok and row.prev_digest == prev[1] and row.seq == prev[0] + 1):
            result.log_break = _classify(conn, row, own_ok, prev, before)
            if result.log_break.seq <= prev[0]:  # the row before this one is the culprit
                prev = before
            break
        if row.action == "run.finish":
            recorded.runs[int(detail["run"])] = str(detail["findings_digest"])
        elif row.action.startswith("case.") and "transition_digest" in detail:
            recorded.cases[int(detail["case"])] = (int(detail["line"]), str(detail["transition_digest"]))
        before, prev = prev, (row.seq, row.digest)
    result.head_seq, result.head_digest = prev
    return recorded


def check_anchor(conn: Connection, result: Verification, seq: int, expected: str) -> None:
    result.anchor = (seq, expected)
    found = conn.execute(select(AUDIT_EVENT.c.digest).where(AUDIT_EVENT.c.seq == seq)).first()
    if found is None:
        result.anchor_problem = f"row {seq} is not in the log (deleted, or the log was cut short)"
    elif found.digest != expected:
        result.anchor_problem = f"row {seq} now has digest {found.digest}, not {expected}: the chain was rewritten"


# A finding's columns as its shard's digest reads them (the JSON columns as the text stored).
DIGESTED_FINDING_COLUMNS = (
    FINDING.c.subscriber_id,
    FINDING.c.verdict,
    cast(FINDING.c.reasons, Text).label("reasons"),
    cast(FINDING.c.evidence, Text).label("evidence"),
    cast(FINDING.c.distances, Text).label("distances"),
    FINDING.c.policy_version,
    FINDING.c.preview,
)


@dataclass(frozen=True)
class RunRecompute:
    """A run's shard digests recomputed from its findings (shard number, digest), the shards whose
    stored digest they no longer match, and the findings outside every shard."""

    shards: list[tuple[int, str]]
    changed: list[int]
    outside: int


def recompute_run(conn: Connection, run_id: int, page: int = PAGE) -> RunRecompute:
    """Recompute the run's shard digests from its findings, in subscriber order."""
    shards = conn.execute(
        select(
            SCAN_SHARD.c.shard_no,
            SCAN_SHARD.c.first_subscriber_id,
            SCAN_SHARD.c.last_subscriber_id,
            SCAN_SHARD.c.findings_digest,
        )
        .where(SCAN_SHARD.c.run_id == run_id)
        .order_by(SCAN_SHARD.c.first_subscriber_id)
    ).all()
    hashers = {s.shard_no: ShardHasher() for s in shards}
    outside = 0
    i, last = 0, -1
    while True:
        rows = conn.execute(
            select(*DIGESTED_FINDING_COLUMNS)
            .where(FINDING.c.run_id == run_id, FINDING.c.subscriber_id > last)
            .order_by(FINDING.c.subscriber_id)
            .limit(page)
        ).all()
        for row in rows:
            while i < len(shards) and row.subscriber_id > shards[i].last_subscriber_id:
                i += 1
            if i < len(shards) and row.subscriber_id >= shards[i].first_subscriber_id:
                hashers[shards[i].shard_no].add(row)
            else:
                outside += 1
        if len(rows) < page:
            break
        last = rows[-1].subscriber_id
    recomputed = sorted((s.shard_no, hashers[s.shard_no].hexdigest()) for s in shards)
    stored = {s.shard_no: s.findings_digest for s in shards}
    return RunRecompute(recomputed, [no for no, d in recomputed if d != stored[no]], outside)


def judge_run(run_id: int, found: RunRecompute, recorded: str) -> RunProblem | None:
    """Whether the recomputed run still gives the digest its ``run.finish`` row recorded."""
    if run_digest(found.shards) == recorded and not found.changed and not found.outside:
        return None
    parts = []
    if found.changed:
        parts.append(f"the findings of shard(s) {', '.join(map(str, found.changed[:10]))} no longer give their digest")
    if found.outside:
        parts.append(f"{found.outside} finding(s) lie outside every shard")
    if not parts:
        parts.append("the shards' digests no longer give the digest recorded when the run finished")
    return RunProblem(run_id, found.changed, "; ".join(parts))


def verify_run(conn: Connection, run_id: int, recorded: str, page: int = PAGE) -> RunProblem | None:
    """Recompute the run's shard digests from its findings and the run digest from those."""
    return judge_run(run_id, recompute_run(conn, run_id, page), recorded)


_CASE_COLUMNS = [
    CASE_TRANSITION.c[name]
    for name in (
        "id",
        "case_id",
        "seq",
        "from_state",
        "to_state",
        "event",
        "stage",
        "at",
        "actor",
        "why",
        "finding_id",
        "notice_id",
        "receipt",
        "hold_id",
        "digest",
    )
]


@dataclass
class CaseChains:
    """Every case's history chain checked on its own: the cases read, those whose chain is broken, and
    the last line (number and digest) of each intact one."""

    checked: int = 0
    broken: list[int] = field(default_factory=list)
    last: dict[int, tuple[int, str]] = field(default_factory=dict)


def case_chains(conn: Connection, page: int = PAGE) -> CaseChains:
    """Every case's history, read in (case, seq) order a page at a time, each chain recomputed."""
    out = CaseChains()
    after: tuple[int, int] | None = None
    case_id, previous, lines, broken = None, GENESIS, 0, False

    def end_of_case() -> None:
        if case_id is not None and not broken:
            out.last[case_id] = (lines, previous)

    while True:
        query = select(*_CASE_COLUMNS).order_by(CASE_TRANSITION.c.case_id, CASE_TRANSITION.c.seq).limit(page)
        if after is not None:
            query = query.where(tuple_(CASE_TRANSITION.c.case_id, CASE_TRANSITION.c.seq) > tuple_(*after))
        rows = conn.execute(query).all()
        for row in rows:
            if row.case_id != case_id:
                end_of_case()
                case_id, previous, lines, broken = row.case_id, GENESIS, 0, False
                out.checked += 1
            lines += 1
            if broken:
                continue
            if row.seq != lines or row.digest != line_digest(previous, row):
                broken = True
                out.broken.append(int(row.case_id))
            previous = row.digest
        if len(rows) < page:
            break
        after = (rows[-1].case_id, rows[-1].seq)
    end_of_case()
    return out


def judge_cases(
    result: Verification, chains: CaseChains, recorded: dict[int, tuple[int, str]], limit: int = 20
) -> None:
    """Broken chains, and cases whose last line is not the one the audit log recorded last for them
    (lines removed from the end); then cases the log recorded whose every line is gone."""
    mismatched = [cid for cid, last in recorded.items() if cid in chains.last and chains.last[cid] != last]
    broken = set(chains.broken)
    missing = sorted(cid for cid in recorded if cid not in chains.last and cid not in broken)
    result.cases_checked += chains.checked + len(missing)
    result.broken_cases.extend((sorted(broken.union(mismatched)) + missing)[:limit])


def verify_cases(
    conn: Connection, result: Verification, recorded: dict[int, tuple[int, str]], page: int = PAGE, limit: int = 20
) -> None:
    """Every case's history chain, and its last line against what the audit log recorded."""
    judge_cases(result, case_chains(conn, page), recorded, limit)


def _finished_runs(conn: Connection) -> list[int]:
    return [int(r.id) for r in conn.execute(select(SCAN_RUN.c.id).where(SCAN_RUN.c.status == "finished"))]


def recompute_elsewhere(url: str, page: int) -> tuple[dict[int, RunRecompute], CaseChains, dict[str, float]]:
    """The runs' and the cases' halves of a verification, for a second process while this one walks the
    log: every finished run's shard digests and every case's chain (their own connection)."""
    from scanner.db import engine_for

    seconds: dict[str, float] = {}
    with engine_for(url).connect() as conn:
        started = time.perf_counter()
        runs = {run_id: recompute_run(conn, run_id, page) for run_id in _finished_runs(conn)}
        seconds["runs"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        chains = case_chains(conn, page)
        seconds["cases"] = round(time.perf_counter() - started, 2)
    return runs, chains, seconds


# From this many log rows on, a second process recomputes the runs and the cases while this one walks
# the log (below it, starting the process costs more than it saves).
PARALLEL_FROM_ROWS = 100_000


def verify(
    conn: Connection,
    anchor: tuple[int, str] | None = None,
    page: int = PAGE,
    url: str | None = None,
    parallel_from: int = PARALLEL_FROM_ROWS,
) -> Verification:
    """Verify the log, the runs and the cases. With ``url`` (the database ``conn`` is on) and a log of at
    least ``parallel_from`` rows, the runs and the cases are recomputed in a second process meanwhile."""
    result = Verification()
    size = conn.execute(select(func.count()).select_from(AUDIT_EVENT)).scalar_one() if url else 0
    if url is not None and size >= parallel_from:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending = pool.submit(recompute_elsewhere, url, page)
            started = time.perf_counter()
            recorded = verify_log(conn, result, page)
            result.seconds["log"] = round(time.perf_counter() - started, 2)
            runs, chains, seconds = pending.result()
        result.seconds.update(seconds)
    else:
        started = time.perf_counter()
        recorded = verify_log(conn, result, page)
        result.seconds["log"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        runs = {run_id: recompute_run(conn, run_id, page) for run_id in sorted(recorded.runs)}
        result.seconds["runs"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        chains = case_chains(conn, page)
        result.seconds["cases"] = round(time.perf_counter() - started, 2)
    for run_id, run_digest_recorded in sorted(recorded.runs.items()):
        result.runs_checked += 1
        found = runs.get(run_id)
        if found is None:  # not finished any more by its row: recompute it here
            found = recompute_run(conn, run_id, page)
        problem = judge_run(run_id, found, run_digest_recorded)
        if problem is not None:
            result.run_problems.append(problem)
    judge_cases(result, chains, recorded.cases)
    if anchor is not None:
        check_anchor(conn, result, *anchor)
    return result
