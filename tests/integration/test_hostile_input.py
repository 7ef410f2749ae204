"""Careless and hostile input at the command boundary: database errors are short and masked, a
database path that cannot work is named, and an over-long field never reaches the database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import DataError

from scanner.cli import app as app_module
from scanner.db import open_engine
from scanner.enforce import casequery
from scanner.importer import import_file

HEADER = "account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo\n"


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["realname", *args])
    with pytest.raises(SystemExit) as done:
        app_module.main()
    return int(done.value.code or 0)


def _failing_query(*_args: object) -> None:
    raise DataError(
        "UPDATE subscriber SET name=%(name)s WHERE msisdn=%(msisdn)s",
        {"name": "张三", "msisdn": "13912345678", "id_number": "11010519491231002X"},
        Exception("value too long for type character varying(200) in row 13912345678 / 11010519491231002X"),
    )


def test_a_database_error_is_one_masked_line_and_debug_adds_a_masked_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(casequery, "case_counts", _failing_query)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert _main(monkeypatch, "cases", "summary", "--database", url) == 2
    err = capsys.readouterr().err
    assert "error: database: Exception: value too long" in err and "139****5678" in err and "110***********002X" in err
    assert "13912345678" not in err and "11010519491231002X" not in err and "UPDATE" not in err
    assert len(err.splitlines()) == 2  # the message and the --debug hint

    monkeypatch.setattr(app_module, "DEBUG", False)
    assert _main(monkeypatch, "--debug", "cases", "summary", "--database", url) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "_failing_query" in err
    assert "13912345678" not in err and "11010519491231002X" not in err


@pytest.mark.parametrize(
    ("where", "words"),
    [("folder", "is a folder, not a database file"), ("missing/x.db", "its folder"), ("ok.db", None)],
)
def test_a_database_path_that_cannot_work_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str, words: str | None
) -> None:
    (tmp_path / "folder").mkdir()
    target = tmp_path / where
    code = _main(monkeypatch, "cases", "summary", "--database", f"sqlite:///{target}")
    err = capsys.readouterr().err
    if words is None:
        assert code == 0 and err == ""
    else:
        assert code == 2 and str(target) in err and words in err and "Traceback" not in err


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_an_over_long_name_is_refused_at_import_naming_row_and_column(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url"))
    csv = tmp_path / "long.csv"
    csv.write_text(
        HEADER
        + "C1,13012349990,张三,11010519491231002X,长期,2003-06-18,consumer,,,\n"
        + f"C2,13912345678,{'李' * 100_000},420102198001011232,2030-01-01,2015-03-02,consumer,,,\n",
        encoding="utf-8",
    )
    report = import_file(open_engine(url), csv, skip_invalid=True)
    assert report.committed and report.inserted == 1
    (rejected,) = report.rejected
    assert "line 3 (account C2)" in str(rejected) and "name: 100000 characters; at most 200" in str(rejected)
