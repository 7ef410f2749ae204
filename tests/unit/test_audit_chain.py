"""The audit log's chain on its own: a row's content is the canonical JSON of its fields, and whatever
single change is made to a log of any length, verify names the row and the kind of change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from tamper import alter_row, delete_row, insert_row_after, swap_rows

from scanner.audit.chain import at_text, canonical_detail, content
from scanner.audit.log import Entry, append
from scanner.audit.verify import Verification, verify_log
from scanner.db import json_dumps
from scanner.tables import AUDIT_EVENT

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
texts = st.text(max_size=12)
ints = st.integers(-(2**40), 2**40)
details = st.dictionaries(texts, st.one_of(ints, texts, st.booleans(), st.none(), st.lists(ints, max_size=3)))


@given(st.integers(1, 10**9), texts, texts, texts, st.one_of(st.none(), st.integers(1, 10**9)), details)
def test_content_is_the_canonical_json_of_the_row(
    seq: int, actor: str, action: str, subject: str, subscriber_id: int | None, detail: dict[str, object]
) -> None:
    at = at_text(T0)
    row = {"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject}
    row |= {"subscriber_id": subscriber_id, "detail": detail}
    expected = orjson.dumps(row, option=orjson.OPT_SORT_KEYS)
    assert content(seq, at, actor, action, subject, subscriber_id, canonical_detail(detail)) == expected


@pytest.fixture(scope="module")
def memory() -> Iterator[Engine]:
    engine = create_engine("sqlite://", json_serializer=json_dumps, json_deserializer=orjson.loads)
    yield engine
    engine.dispose()


def _fresh_log(engine: Engine, n: int) -> None:
    AUDIT_EVENT.drop(engine, checkfirst=True)
    AUDIT_EVENT.create(engine)
    entries = [
        Entry(T0 + dt.timedelta(seconds=i), f"actor{i % 3}", "test.step", f"item {i}", i % 5 or None, {"i": i})
        for i in range(n)
    ]
    with engine.begin() as conn:
        for start in range(0, n, 4):  # several batches, each chained to the last
            append(conn, entries[start : start + 4])


def _verify(engine: Engine) -> Verification:
    result = Verification()
    with engine.connect() as conn:
        verify_log(conn, result, page=5)
    return result


TAMPER = {"altered": alter_row, "deleted": delete_row, "inserted": insert_row_after, "reordered": swap_rows}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_single_change_is_named_with_its_seq_and_kind(memory: Engine, data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 25), label="rows")
    kind = data.draw(st.sampled_from(sorted(TAMPER)), label="kind")
    # The newest row deleted (or a row added after it) is indistinguishable from a shorter (longer)
    # log: that is what an anchor is for.
    top = {"altered": n, "deleted": n - 1, "inserted": n - 1, "reordered": n - 1}[kind]
    low = 0 if kind == "inserted" else 1
    seq = data.draw(st.integers(low, top), label="seq")
    _fresh_log(memory, n)
    assert _verify(memory).intact
    with memory.begin() as conn:
        TAMPER[kind](conn, seq)
    result = _verify(memory)
    expected = seq + 1 if kind == "inserted" else seq
    assert result.log_break is not None
    assert (result.log_break.seq, result.log_break.kind) == (expected, kind)
    assert result.head_seq == expected - 1
