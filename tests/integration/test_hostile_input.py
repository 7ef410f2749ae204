"""Careless and hostile input at the command boundary: database errors are short and masked, a
database path that cannot work is named, and an over-long field never reaches the database."""

from __future__ import annotations

import datetime as dt
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


def test_photo_references_outside_the_roots_are_refused_at_import_naming_the_row(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "base" / "photos").mkdir(parents=True)
    (tmp_path / "store").mkdir()
    csv = tmp_path / "base" / "base.csv"
    rows = {
        "C1": "photos/a.jpg",  # beside the file: the default root
        "C2": "../../../etc/passwd",
        "C3": "file:///etc/shadow",
        "C4": f"{tmp_path / 'store' / 'b.jpg'}",
        "C5": "http://127.0.0.1:9/internal.jpg",
    }
    body = "".join(
        f"{acc},1391234567{i},张三,11010519491231002X,长期,2003-06-18,consumer,{ref},,\n"
        for i, (acc, ref) in enumerate(rows.items())
    )
    csv.write_text(HEADER + body, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert _main(monkeypatch, "import", str(csv), "--database", url) == 1
    err = capsys.readouterr().err
    for line, acc in ((3, "C2"), (4, "C3"), (5, "C4"), (6, "C5")):
        assert f"line {line} (account {acc})" in err and "id_portrait" in err
    assert "C1" not in err and "outside the photo roots" in err and "URL not under the photo roots" in err

    # The operator names the roots: the store folder and the HTTP prefix are accepted, /etc never.
    args = ["--photo-root", str(tmp_path / "base"), "--photo-root", str(tmp_path / "store")]
    args += ["--photo-root", "http://127.0.0.1:9/", "--skip-invalid", "--database", url]
    assert _main(monkeypatch, "import", str(csv), *args) == 0
    out, err = capsys.readouterr()
    assert "3 new" in out and "2 rejected" in out
    assert "account C2" in err and "account C3" in err and "C4" not in err and "C5" not in err

    # Roots in the policy work the same way; a root that is not absolute is a policy error naming the key.
    policy = tmp_path / "p.toml"
    shipped = (Path(__file__).parents[2] / "scanner" / "policies" / "default.toml").read_text(encoding="utf-8")
    policy.write_text(shipped.replace("[photos]\n", '[photos]\nroots = ["relative/photos"]\n'), encoding="utf-8")
    assert _main(monkeypatch, "import", str(csv), "--policy", str(policy), "--database", url) == 2
    assert "photos.roots" in capsys.readouterr().err


@pytest.mark.faces
def test_a_rescan_fails_a_live_photo_copied_from_the_portrait_also_from_the_cache(
    tmp_path: Path, faces_dir: Path
) -> None:
    import shutil

    from PIL import Image
    from sqlalchemy import select

    from scanner.policyfile import load_policy
    from scanner.scan.rescan import rescan
    from scanner.tables import FINDING

    portrait = faces_dir / "identities" / "obama" / "01.jpg"
    shutil.copyfile(portrait, tmp_path / "copy.jpg")
    with Image.open(portrait) as im:
        im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(tmp_path / "resaved.jpg", quality=75)
    lives = {"C1": tmp_path / "copy.jpg", "C2": tmp_path / "resaved.jpg", "C3": faces_dir / "identities/obama/03.jpg"}
    csv = tmp_path / "base.csv"
    csv.write_text(
        HEADER
        + "".join(
            f"{acc},1391234567{i},张三,11010519491231002X,长期,2003-06-18,consumer,{portrait},{live},\n"
            for i, (acc, live) in enumerate(lives.items())
        ),
        encoding="utf-8",
    )
    engine = open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    assert import_file(engine, csv, photo_roots=[str(faces_dir), str(tmp_path)]).committed
    for attempt in ("measured", "from the cache"):
        run = rescan(engine, load_policy(), as_of=dt.date(2026, 12, 1), workers=1)
        with engine.connect() as conn:
            rows = conn.execute(
                select(FINDING.c.subscriber_id, FINDING.c.verdict, FINDING.c.evidence)
                .where(FINDING.c.run_id == run.id)
                .order_by(FINDING.c.subscriber_id)
            ).all()
        verdicts = [(r.verdict, [e["code"] for e in r.evidence]) for r in rows]
        assert verdicts == [("fail", ["LIVE_IS_COPY"]), ("fail", ["LIVE_IS_COPY"]), ("pass", [])], attempt
        copy = rows[1].evidence[0]
        assert copy["measure"] == "face_likeness" and copy["value"] >= copy["threshold"] and copy["comparison"] == ">="
        assert (run.totals["measured_photos"] > 0) == (attempt == "measured"), run.totals
