"""Importing subscriber files into the database: line numbers, all-or-nothing, rejects, idempotent upserts."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from scanner.importer import ImportFileError, ImportReport, import_file, iter_rows
from scanner.models import Photo, Subscriber
from scanner.records import COLUMNS

SUBSCRIBERS = Path(__file__).resolve().parents[2] / "fixtures" / "subscribers"
TODAY = dt.date(2026, 6, 1)

# file: {physical line: text that must start one of the reasons (it names the column)}
BAD_FILES: dict[str, dict[int, str]] = {
    "bad_msisdn.csv": {3: "msisdn: not an 11-digit", 4: "msisdn: not an 11-digit", 5: "msisdn: not an 11-digit"},
    "bad_id_check_digit.csv": {3: "id_number: check digit does not match"},
    "bad_id_birth_date.csv": {4: "id_number: birth date is not a real date"},
    "bad_id_region.csv": {2: "id_number: region code is unknown"},
    "bad_id_length.csv": {
        3: "id_number: expected 18 characters",
        4: "id_number: expected 18 characters",
        5: "id_number: expected 18 characters",
    },
    "bad_dates.csv": {
        3: "joined_on: '2024/01/02' is not an ISO date",
        4: "id_expires_on: '2024-13-01' is not an ISO date",
    },
    "future_joined.csv": {3: "joined_on: 2099-01-01 is in the future"},
    "missing_value.csv": {2: "name: missing", 4: "msisdn: missing", 5: "joined_on: missing", 6: "account_id: missing"},
    "unknown_segment.csv": {3: "segment: 'vip' is not one of"},
    "duplicate_account.csv": {4: "account_id: duplicate of line 2"},
    "too_many_fields.csv": {3: "1 more field(s) than the header has"},
    "bad_lines.jsonl": {
        2: "not valid JSON",
        3: "a JSON object is expected on each line",
        6: "a JSON object is expected on each line",
    },
    "id_defects_mixed.csv": {
        3: "id_number: check digit does not match",
        4: "id_number: birth date is not a real date",
        5: "id_number: region code is unknown",
        6: "id_number: expected 18 characters",
        8: "msisdn: not an 11-digit",
    },
    "multiline.csv": {3: "msisdn: not an 11-digit", 5: "segment: 'vip'"},
}
DATA_ROWS = {
    "bad_msisdn.csv": 5,
    "bad_id_check_digit.csv": 3,
    "bad_id_birth_date.csv": 3,
    "bad_id_region.csv": 2,
    "bad_id_length.csv": 4,
    "bad_dates.csv": 4,
    "future_joined.csv": 2,
    "missing_value.csv": 5,
    "unknown_segment.csv": 2,
    "duplicate_account.csv": 3,
    "too_many_fields.csv": 3,
    "bad_lines.jsonl": 6,
    "id_defects_mixed.csv": 7,
    "multiline.csv": 3,
}


def counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.exec(select(func.count()).select_from(Subscriber)).one(),
            s.exec(select(func.count()).select_from(Photo)).one(),
        )


def subscribers(engine: Engine) -> dict[str, Subscriber]:
    with Session(engine) as s:
        return {sub.account_id: sub for sub in s.exec(select(Subscriber))}


def photos_of(engine: Engine) -> dict[tuple[str, str], Photo]:
    with Session(engine) as s:
        rows = s.exec(select(Subscriber.account_id, Photo).join(Photo, Photo.subscriber_id == Subscriber.id)).all()
        return {(account, photo.kind): photo for account, photo in rows}


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every stored value except the import source, for comparing two imports."""
    subs = {
        a: {k: v for k, v in s.model_dump().items() if k not in ("source",)} for a, s in subscribers(engine).items()
    }
    pics = {key: p.model_dump() for key, p in photos_of(engine).items()}
    return {"subscribers": subs, "photos": pics}


def run(engine: Engine, file: Path, **kwargs: Any) -> ImportReport:
    kwargs.setdefault("today", TODAY)
    # The fixture's photos are beside it, but for one, a file:// URL under /srv/photos.
    kwargs.setdefault("photo_roots", [str(Path(file).resolve().parent), "/srv/photos"])
    return import_file(engine, file, **kwargs)


def copy_fixture(name: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(SUBSCRIBERS / name, target)
    return target


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_csv_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


# --- valid files ------------------------------------------------------------------------------


def test_valid_csv_imports_every_row(engine: Engine) -> None:
    report = run(engine, SUBSCRIBERS / "valid.csv")
    assert report.committed
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (10, 10, 0, 0)
    assert report.rejected == [] and report.rejects_file is None
    assert report.kept_with_id_defects == 0
    assert counts(engine) == (10, 22)  # id_portrait and live for all ten, handheld for two

    subs = subscribers(engine)
    assert subs["A0003"].id_number == "44030519931120001X"  # lower-case x normalised
    assert subs["A0004"].msisdn == "18612340004"  # "+86 186-1234-0004"
    assert subs["A0005"].id_legacy is True and subs["A0005"].id_expires_on is None  # 长期
    assert subs["A0006"].segment == "consumer"  # blank segment
    assert subs["A0001"].region_code == "110105"
    assert subs["A0001"].id_expires_on == dt.date(2030, 5, 1)
    assert subs["A0001"].joined_on == dt.date(2019, 3, 15)
    assert subs["A0002"].name == "王芳"
    assert all(s.source == str((SUBSCRIBERS / "valid.csv").resolve()) for s in subs.values())


def test_photo_paths_resolve_against_the_files_folder(engine: Engine) -> None:
    run(engine, SUBSCRIBERS / "valid.csv")
    pics = photos_of(engine)
    assert pics[("A0001", "id_portrait")].uri == str((SUBSCRIBERS / "photos" / "a0001_id.jpg").resolve())
    assert pics[("A0002", "handheld")].uri == str((SUBSCRIBERS / "photos" / "a0002_handheld.jpg").resolve())
    assert pics[("A0010", "live")].uri == "/srv/photos/a0010_live.jpg"  # a file:// URL is stored as its path
    assert ("A0001", "handheld") not in pics
    assert all(p.sha256 is None and p.scanned_at is None for p in pics.values())


def test_import_from_another_working_directory(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run(engine, SUBSCRIBERS / "valid.csv")
    uri = photos_of(engine)[("A0001", "live")].uri
    assert uri == str((SUBSCRIBERS / "photos" / "a0001_live.jpg").resolve())


def test_jsonl_equivalent_gives_the_same_rows(tmp_path: Path) -> None:
    from scanner.db import open_engine

    from_csv = open_engine(f"sqlite:///{tmp_path / 'csv.db'}")
    from_jsonl = open_engine(f"sqlite:///{tmp_path / 'jsonl.db'}")
    try:
        run(from_csv, SUBSCRIBERS / "valid.csv")
        report = run(from_jsonl, SUBSCRIBERS / "valid.jsonl")
        assert (report.rows, report.inserted, report.rejected) == (10, 10, [])

        def comparable(engine: Engine) -> dict[str, Any]:
            snap = snapshot(engine)
            for values in snap["subscribers"].values():
                for key in ("id", "created_at", "updated_at"):
                    values.pop(key)
            for values in snap["photos"].values():
                values.pop("id")
                values.pop("subscriber_id")
            return snap

        assert comparable(from_jsonl) == comparable(from_csv)
    finally:
        from_csv.dispose()
        from_jsonl.dispose()


def test_gb18030_csv_imports(engine: Engine) -> None:
    raw = (SUBSCRIBERS / "gb18030.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    report = run(engine, SUBSCRIBERS / "gb18030.csv")
    assert report.committed and report.rejected == [] and report.inserted == 3
    subs = subscribers(engine)
    assert subs["C0001"].name == "欧阳娜娜"
    assert subs["C0002"].name == "司马光"
    assert subs["C0001"].id_expires_on is None  # 长期 read correctly
    assert report.encoding == "gb18030"  # named, so the operator can see how the bytes were read


def test_latin1_text_is_not_read_as_chinese_without_being_told(engine: Engine, tmp_path: Path) -> None:
    """GB18030 decodes almost any bytes: Latin-1 "Müller" would read as "M黮ler". A non-UTF-8 file whose
    GB18030 reading has characters outside GB2312 is refused, naming the line and the characters."""
    text = (SUBSCRIBERS / "valid.csv").read_text(encoding="utf-8").splitlines()
    row = text[1].split(",")
    row[2] = "Müller"
    latin = tmp_path / "latin.csv"
    latin.write_bytes(("\n".join([text[0], ",".join(row)]) + "\n").encode("latin-1"))
    with pytest.raises(ImportFileError, match=r"latin.csv: not UTF-8; read as GB18030, line 2 has .*黮.*--encoding"):
        run(engine, latin)
    assert subscribers(engine) == {}  # nothing imported
    report = run(engine, latin, encoding="latin-1")
    assert report.committed and report.encoding == "latin-1"
    assert [s.name for s in subscribers(engine).values()] == ["Müller"]
    with pytest.raises(ImportFileError, match=r"line 2: not utf-8 text"):
        run(engine, latin, encoding="utf-8")
    with pytest.raises(ImportFileError, match="unknown encoding 'klingon'"):
        run(engine, latin, encoding="klingon")


def test_utf8_with_bom_imports(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "bom.csv"
    target.write_bytes(b"\xef\xbb\xbf" + (SUBSCRIBERS / "valid.csv").read_bytes())
    report = run(engine, target)
    assert report.committed and report.inserted == 10 and report.rejected == []


# --- broken files: line numbers and reasons --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_rows_reported_with_line_and_column(engine: Engine, name: str) -> None:
    expected = BAD_FILES[name]
    report = run(engine, SUBSCRIBERS / name)
    assert report.rows == DATA_ROWS[name]
    by_line = {err.line: err for err in report.rejected}
    assert sorted(by_line) == sorted(expected), [str(e) for e in report.rejected]
    assert len(report.rejected) == len(expected)
    for line, words in expected.items():
        assert any(reason.startswith(words) for reason in by_line[line].reasons), str(by_line[line])


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_all_or_nothing_writes_nothing(engine: Engine, name: str) -> None:
    report = run(engine, SUBSCRIBERS / name)
    assert report.rejected
    assert not report.committed
    assert report.rejects_file is None
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 0)
    assert counts(engine) == (0, 0)
    assert not (SUBSCRIBERS / f"{name}.rejected.csv").exists()


def test_bad_file_leaves_earlier_import_untouched(engine: Engine) -> None:
    run(engine, SUBSCRIBERS / "valid.csv")
    before = snapshot(engine)
    report = run(engine, SUBSCRIBERS / "bad_msisdn.csv")  # its good rows carry new account ids
    assert not report.committed
    assert snapshot(engine) == before


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_skip_invalid_imports_good_rows_and_writes_rejects(engine: Engine, tmp_path: Path, name: str) -> None:
    rejects = tmp_path / "rejects.csv"
    report = run(engine, SUBSCRIBERS / name, skip_invalid=True, rejects_path=rejects)
    good = DATA_ROWS[name] - len(BAD_FILES[name])
    assert report.committed
    assert report.inserted == good
    assert counts(engine)[0] == good
    assert report.rejects_file == str(rejects)

    with rejects.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        written = list(reader)
    assert header == ["line", "reasons", *COLUMNS]
    assert [int(r[0]) for r in written] == sorted(BAD_FILES[name])
    for row, err in zip(written, report.rejected, strict=True):
        assert row[1] == "; ".join(err.reasons)
        original = dict(zip(COLUMNS, row[2:], strict=True))
        for column in COLUMNS:
            assert original[column] == str(err.row.get(column, "") or "")


def test_rejects_keep_the_original_values(engine: Engine, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    run(engine, SUBSCRIBERS / "bad_msisdn.csv", skip_invalid=True, rejects_path=rejects)
    rows = read_csv_rows(rejects)
    assert [r["msisdn"] for r in rows] == ["1301234999", "010-8888-6666", "1381234abcd"]
    assert [r["account_id"] for r in rows] == ["G0002", "G0003", "G0004"]
    assert all(r["reasons"].startswith("msisdn:") for r in rows)


def test_rejects_file_defaults_to_next_to_the_import_file(engine: Engine, tmp_path: Path) -> None:
    file = copy_fixture("bad_dates.csv", tmp_path)
    report = run(engine, file, skip_invalid=True)
    expected = tmp_path / "bad_dates.csv.rejected.csv"
    assert report.rejects_file == str(expected)
    assert expected.is_file()
    assert len(read_csv_rows(expected)) == 2


def test_skip_invalid_on_a_clean_file_writes_no_rejects(engine: Engine, tmp_path: Path) -> None:
    file = copy_fixture("valid.csv", tmp_path)
    report = run(engine, file, skip_invalid=True)
    assert report.committed and report.rejects_file is None
    assert list(tmp_path.glob("*.rejected.csv")) == []


# --- keeping rows whose only defect is in the ID number -------------------------------------------


def test_keep_invalid_id_keeps_id_content_defects_only(engine: Engine, tmp_path: Path) -> None:
    report = run(
        engine,
        SUBSCRIBERS / "id_defects_mixed.csv",
        keep_invalid_id=True,
        skip_invalid=True,
        rejects_path=tmp_path / "r.csv",
    )
    assert sorted(e.line for e in report.rejected) == [6, 8]  # malformed number; number plus msisdn
    assert report.kept_with_id_defects == 3
    subs = subscribers(engine)
    assert set(subs) == {"G0001", "G0002", "G0003", "G0004", "G0006"}
    assert subs["G0004"].region_code is None  # unknown region kept without a region
    line8 = next(e for e in report.rejected if e.line == 8)
    assert any(r.startswith("id_number: check digit") for r in line8.reasons)
    assert any(r.startswith("msisdn:") for r in line8.reasons)


def test_keep_invalid_id_alone_is_still_all_or_nothing(engine: Engine) -> None:
    report = run(engine, SUBSCRIBERS / "id_defects_mixed.csv", keep_invalid_id=True)
    assert sorted(e.line for e in report.rejected) == [6, 8]
    assert not report.committed and counts(engine) == (0, 0)


@pytest.mark.parametrize("name", ["bad_id_check_digit.csv", "bad_id_birth_date.csv", "bad_id_region.csv"])
def test_keep_invalid_id_imports_whole_file(engine: Engine, name: str) -> None:
    report = run(engine, SUBSCRIBERS / name, keep_invalid_id=True)
    assert report.committed and report.rejected == []
    assert report.kept_with_id_defects == 1
    assert report.inserted == DATA_ROWS[name]


def test_id_only_flag_marks_keepable_rejects(engine: Engine) -> None:
    report = run(engine, SUBSCRIBERS / "id_defects_mixed.csv")
    flags = {e.line: e.id_only for e in report.rejected}
    assert flags == {3: True, 4: True, 5: True, 6: False, 8: False}


# --- re-imports -----------------------------------------------------------------------------------


def test_reimport_changes_nothing(engine: Engine) -> None:
    run(engine, SUBSCRIBERS / "valid.csv")
    before = snapshot(engine)
    report = run(engine, SUBSCRIBERS / "valid.csv")
    assert report.committed
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 10)
    assert snapshot(engine) == before  # same rows, same updated_at, same photo rows


def test_same_data_as_jsonl_changes_nothing(engine: Engine) -> None:
    run(engine, SUBSCRIBERS / "valid.csv")
    before = snapshot(engine)
    report = run(engine, SUBSCRIBERS / "valid.jsonl")
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 10)
    assert snapshot(engine) == before


def test_changing_one_field_updates_exactly_one_row(engine: Engine, tmp_path: Path) -> None:
    file = copy_fixture("valid.csv", tmp_path / "in")
    run(engine, file)
    before = snapshot(engine)

    rows = read_csv_rows(file)
    rows[6]["name"] = "赵敏敏"  # A0007
    write_csv_rows(file, rows)
    report = run(engine, file)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 9)

    after = snapshot(engine)
    changed = [a for a in before["subscribers"] if before["subscribers"][a] != after["subscribers"][a]]
    assert changed == ["A0007"]
    assert after["subscribers"]["A0007"]["name"] == "赵敏敏"
    assert after["subscribers"]["A0007"]["updated_at"] > before["subscribers"]["A0007"]["updated_at"]
    assert after["photos"] == before["photos"]
    assert counts(engine) == (10, 22)


def test_removing_a_photo_value_deletes_that_photo(engine: Engine, tmp_path: Path) -> None:
    file = copy_fixture("valid.csv", tmp_path / "in")
    run(engine, file)
    before = snapshot(engine)

    rows = read_csv_rows(file)
    assert rows[1]["account_id"] == "A0002" and rows[1]["handheld_photo"]
    rows[1]["handheld_photo"] = ""
    write_csv_rows(file, rows)
    report = run(engine, file)
    assert (report.updated, report.unchanged) == (1, 9)

    after = snapshot(engine)
    assert set(before["photos"]) - set(after["photos"]) == {("A0002", "handheld")}
    assert set(after["photos"]) <= set(before["photos"])
    assert counts(engine) == (10, 21)
    # The subscriber row itself did not change.
    assert after["subscribers"] == before["subscribers"]


def test_changing_a_photo_path_resets_its_scan_state(engine: Engine, tmp_path: Path) -> None:
    file = copy_fixture("valid.csv", tmp_path / "in")
    run(engine, file)
    with Session(engine) as s:
        photo = s.get(Photo, photos_of(engine)[("A0001", "live")].id)
        assert photo is not None
        photo.sha256, photo.size_bytes, photo.scanned_at = "ab" * 32, 1234, dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
        s.add(photo)
        s.commit()

    rows = read_csv_rows(file)
    rows[0]["live_photo"] = "photos/a0001_live_v2.jpg"
    write_csv_rows(file, rows)
    report = run(engine, file)
    assert (report.updated, report.unchanged) == (1, 9)
    photo_after = photos_of(engine)[("A0001", "live")]
    assert photo_after.uri == str((file.parent / "photos" / "a0001_live_v2.jpg").resolve())
    assert (photo_after.sha256, photo_after.size_bytes, photo_after.scanned_at) == (None, None, None)


def test_adding_a_photo_value_adds_a_photo(engine: Engine, tmp_path: Path) -> None:
    file = copy_fixture("valid.csv", tmp_path / "in")
    run(engine, file)
    rows = read_csv_rows(file)
    rows[0]["handheld_photo"] = "photos/a0001_handheld.jpg"
    write_csv_rows(file, rows)
    report = run(engine, file)
    assert (report.updated, report.unchanged) == (1, 9)
    assert ("A0001", "handheld") in photos_of(engine)
    assert counts(engine) == (10, 23)


# --- whole-file errors --------------------------------------------------------------------------------


def test_missing_required_column_is_a_file_error(engine: Engine) -> None:
    file = SUBSCRIBERS / "missing_column.csv"
    with pytest.raises(ImportFileError) as info:
        run(engine, file)
    message = str(info.value)
    assert str(file) in message and "missing column(s) id_number" in message
    assert counts(engine) == (0, 0)


def test_unknown_extension_is_a_file_error(engine: Engine) -> None:
    file = SUBSCRIBERS / "subscribers.txt"
    with pytest.raises(ImportFileError, match=r"unknown file type '\.txt'"):
        run(engine, file)
    assert counts(engine) == (0, 0)


def test_missing_file_is_a_file_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read"):
        run(engine, tmp_path / "nope.csv")


def test_undecodable_file_is_a_file_error(engine: Engine, tmp_path: Path) -> None:
    file = tmp_path / "binary.csv"
    file.write_bytes(b"account_id,msisdn\n\xff\xfe\xff\n")
    with pytest.raises(ImportFileError, match="neither UTF-8 nor GB18030"):
        run(engine, file)


def test_empty_csv_is_a_file_error(engine: Engine, tmp_path: Path) -> None:
    file = tmp_path / "empty.csv"
    file.write_bytes(b"")
    with pytest.raises(ImportFileError, match="empty file, no header row"):
        run(engine, file)


def test_header_only_csv_imports_nothing(engine: Engine, tmp_path: Path) -> None:
    file = tmp_path / "header.csv"
    file.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
    report = run(engine, file)
    assert report.committed and report.rows == 0 and counts(engine) == (0, 0)


def test_header_names_are_trimmed(engine: Engine, tmp_path: Path) -> None:
    text = (SUBSCRIBERS / "valid.csv").read_text(encoding="utf-8").splitlines()
    text[0] = ", ".join(f" {c}" for c in COLUMNS)
    file = tmp_path / "spaced.csv"
    file.write_text("\n".join(text) + "\n", encoding="utf-8")
    report = run(engine, file)
    assert report.committed and report.inserted == 10


# --- physical line numbers in awkward files ------------------------------------------------------------


def test_jsonl_blank_lines_keep_physical_numbers() -> None:
    numbers = [r.line for r in iter_rows(SUBSCRIBERS / "bad_lines.jsonl")]
    assert numbers == [1, 2, 3, 4, 6, 7]


def test_csv_quoted_newline_reports_first_line_of_the_row() -> None:
    numbers = [r.line for r in iter_rows(SUBSCRIBERS / "multiline.csv")]
    assert numbers == [2, 3, 5]


def test_csv_blank_line_keeps_physical_numbers(engine: Engine) -> None:
    report = run(engine, SUBSCRIBERS / "blank_line.csv")
    assert [e.line for e in report.rejected] == [4]


def test_jsonl_line_separator_inside_a_string(engine: Engine, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (SUBSCRIBERS / "valid.jsonl").read_text(encoding="utf-8").splitlines()]
    rows[0]["name"] = "张\u2028伟"
    file = tmp_path / "ls.jsonl"
    file.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    report = run(engine, file)
    assert report.rejected == [] and report.inserted == 10


def test_rejects_keep_values_of_a_row_with_too_many_fields(engine: Engine, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    run(engine, SUBSCRIBERS / "too_many_fields.csv", skip_invalid=True, rejects_path=rejects)
    (row,) = read_csv_rows(rejects)
    assert row["line"] == "3"
    assert row["account_id"] == "G0002"
