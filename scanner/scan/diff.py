"""The impact of a policy change: who newly fails and who newly passes between two runs.

Typically run A is the last enforcing run and run B a preview under the new
policy (``realname rescan --preview``). Both runs' findings are read together
with the subscriber in pages of ``PAGE`` subscribers (keyset on subscriber id);
counts are aggregated as the pages go by and only the first ``list_limit``
subscribers of each category are kept, so a diff of a base of hundreds of
millions of subscribers runs in constant memory. Phone and ID numbers appear
only masked.

The JSON form is the schema ``DIFF_SCHEMA`` (see the README).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Integer, and_, bindparam, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from checks.idcard import region_for
from notices.privacy import mask_number
from scanner.report.runs import ReportError, find_run, run_summary
from scanner.tables import FINDING, SUBSCRIBER

DIFF_SCHEMA = "realname-scanner/diff/1"
PAGE = 2000
LIST_LIMIT = 1000

VERDICTS = ("pass", "review", "fail")
ABSENT = "absent"  # the subscriber has no finding in that run
# Every subscriber with a finding in either run is in exactly one category.
CATEGORIES = (
    "newly_failing",  # fail in B, pass or review in A
    "newly_passing",  # pass in B, review or fail in A
    "newly_review",  # review in B, pass in A
    "fail_to_review",  # review in B, fail in A: no longer failing, a person decides
    "unchanged",  # the same verdict in both runs (reasons may differ)
    "only_in_a",
    "only_in_b",
)
# Categories broken down by reason, join year and region; the reasons counted are
# those the change brought (in B, not in A) or, for newly_passing, those it took away.
BROKEN_DOWN = ("newly_failing", "newly_passing", "newly_review")
LISTED = tuple(c for c in CATEGORIES if c != "unchanged")


def category(verdict_a: str | None, verdict_b: str | None) -> str:
    """The category of a subscriber judged ``verdict_a`` in run A and ``verdict_b`` in run B (None: no finding)."""
    if verdict_a is None:
        return "only_in_b"
    if verdict_b is None:
        return "only_in_a"
    if verdict_a == verdict_b:
        return "unchanged"
    if verdict_b == "fail":
        return "newly_failing"
    if verdict_b == "pass":
        return "newly_passing"
    return "newly_review" if verdict_a == "pass" else "fail_to_review"


def province_of(id_number: str) -> str:
    """The province an ID number was issued in, from its first two digits: '湖北省 (42)', or 'unknown (99)'."""
    prefix = id_number[:2]
    region = region_for(prefix + "0000")
    return f"{region.province} ({prefix})" if region else f"unknown ({prefix})"


class Breakdown:
    """Counts for one category: subscribers, and the reasons that changed, join years and provinces."""

    def __init__(self) -> None:
        self.subscribers = 0
        self.no_reason_change = 0
        self.reasons: Counter[str] = Counter()
        self.join_years: Counter[int] = Counter()
        self.regions: Counter[str] = Counter()

    def add(self, changed_reasons: set[str], join_year: int, region: str) -> None:
        self.subscribers += 1
        if not changed_reasons:
            self.no_reason_change += 1
        self.reasons.update(changed_reasons)
        self.join_years[join_year] += 1
        self.regions[region] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "subscribers": self.subscribers,
            "by_reason": _by_count(self.reasons),
            "no_reason_change": self.no_reason_change,
            "by_join_year": {str(year): n for year, n in sorted(self.join_years.items())},
            "by_region": _by_count(self.regions),
        }


def _by_count(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _pages(engine: Engine, run_a: int, run_b: int) -> Any:
    """Rows (subscriber id, account, msisdn, ID number, joined on, verdict A, reasons A, verdict B, reasons B)
    for every subscriber with a finding in either run, in subscriber id order, a page at a time."""
    fa, fb = FINDING.alias("fa"), FINDING.alias("fb")
    last = bindparam("last", type_=Integer)
    # The bound on each side of the joins lets the database start every page in the (run_id,
    # subscriber_id) index where the last one ended, instead of scanning the run from its start.
    query = (
        select(
            SUBSCRIBER.c.id,
            SUBSCRIBER.c.account_id,
            SUBSCRIBER.c.msisdn,
            SUBSCRIBER.c.id_number,
            SUBSCRIBER.c.joined_on,
            fa.c.verdict,
            fa.c.reasons,
            fb.c.verdict,
            fb.c.reasons,
        )
        .select_from(
            SUBSCRIBER.outerjoin(
                fa, and_(fa.c.run_id == run_a, fa.c.subscriber_id == SUBSCRIBER.c.id, fa.c.subscriber_id > last)
            ).outerjoin(
                fb, and_(fb.c.run_id == run_b, fb.c.subscriber_id == SUBSCRIBER.c.id, fb.c.subscriber_id > last)
            )
        )
        .where(SUBSCRIBER.c.id > last, or_(fa.c.id.is_not(None), fb.c.id.is_not(None)))
        .order_by(SUBSCRIBER.c.id)
        .limit(PAGE)
    )
    after = 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(query, {"last": after}).all()
            if not rows:
                return
            yield rows
            after = rows[-1][0]


def _warnings(a: Any, b: Any) -> list[str]:
    out = []
    if a.as_of != b.as_of:
        out.append(
            f"the runs judged ID expiry as of different dates (run {a.id}: {a.as_of}, run {b.id}: {b.as_of}); "
            "some changes may come from the date, not the policy"
        )
    for run in (a, b):
        if run.status != "finished":
            out.append(
                f"run {run.id} is {run.status}, not finished: subscribers it has not judged yet count as "
                f"only_in_{'a' if run is a else 'b'}"
            )
    return out


def build_diff(engine: Engine, run_a: int, run_b: int, list_limit: int = LIST_LIMIT) -> dict[str, Any]:
    """Compare the findings of ``run_a`` and ``run_b`` subscriber by subscriber (see the module docstring).

    Raises ``ReportError`` for an unknown run id or the same run twice.
    """
    if run_a == run_b:
        raise ReportError(f"--diff needs two different runs (got {run_a} twice)")
    with Session(engine) as session:
        a, b = find_run(session, run_a), find_run(session, run_b)
    counts: Counter[str] = Counter()
    moves: Counter[tuple[str, str]] = Counter()
    breakdowns = {c: Breakdown() for c in BROKEN_DOWN}
    still_flagged = Counter[str]()  # same verdict (review or fail) in both runs, new reasons in B
    still_flagged_subscribers = 0
    lists: dict[str, list[dict[str, Any]]] = {c: [] for c in LISTED}
    for rows in _pages(engine, run_a, run_b):
        for _id, account, msisdn, id_number, joined_on, verdict_a, reasons_a, verdict_b, reasons_b in rows:
            cat = category(verdict_a, verdict_b)
            counts[cat] += 1
            moves[(verdict_a or ABSENT, verdict_b or ABSENT)] += 1
            if cat == "unchanged" and verdict_b == "pass":
                continue  # passing in both runs: counted, nothing more to read
            before, after = set(reasons_a or ()), set(reasons_b or ())
            if cat == "unchanged":
                if after - before:
                    still_flagged_subscribers += 1
                    still_flagged.update(after - before)
                continue
            region = province_of(id_number)  # only for the changed subscribers: most of a base is unchanged
            if cat in breakdowns:
                changed = before - after if cat == "newly_passing" else after - before
                breakdowns[cat].add(changed, joined_on.year, region)
            listed = lists[cat]
            if len(listed) < list_limit:
                listed.append(
                    {
                        "account_id": account,
                        "msisdn": mask_number(msisdn),
                        "id_number": mask_number(id_number),
                        "region": region,
                        "join_year": joined_on.year,
                        "verdict_a": verdict_a,
                        "verdict_b": verdict_b,
                        "reasons_a": reasons_a,
                        "reasons_b": reasons_b,
                    }
                )
    states = (*VERDICTS, ABSENT)
    extra = sorted({v for pair in moves for v in pair} - set(states))  # verdicts this code does not know
    return {
        "schema": DIFF_SCHEMA,
        "run_a": run_summary(a),
        "run_b": run_summary(b),
        "warnings": _warnings(a, b),
        "subscribers": sum(counts.values()),
        "counts": {c: counts[c] for c in CATEGORIES},
        "transitions": {va: {vb: moves[(va, vb)] for vb in (*states, *extra)} for va in (*states, *extra)},
        **{c: breakdowns[c].as_dict() for c in BROKEN_DOWN},
        "unchanged_new_reasons": {"subscribers": still_flagged_subscribers, "by_reason": _by_count(still_flagged)},
        "list_limit": list_limit,
        "lists": {c: {"subscribers": lists[c], "not_listed": counts[c] - len(lists[c])} for c in LISTED},
    }
