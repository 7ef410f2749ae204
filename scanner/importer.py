"""Import a subscriber base from CSV or JSON Lines.

All-or-nothing by default: one bad row and nothing is written. With
``skip_invalid`` the good rows are imported and the rejected ones are written,
with their line numbers and reasons, to a rejects file. Re-importing the same
file changes nothing (upsert by ``account_id``, rows only touched when a value
differs).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from checks.idcard import person_key
from scanner.audit.log import record
from scanner.models import Photo, Subscriber
from scanner.photoroots import PhotoRefError, PhotoRoots
from scanner.records import COLUMNS, REQUIRED_COLUMNS, RowError, SubscriberRecord, validate_row
from scanner.utctime import utcnow

BATCH = 1000


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, wrong columns, unknown type)."""


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)
    kept_with_id_defects: int = 0
    committed: bool = False
    rejects_file: str | None = None
    encoding: str = "utf-8"  # what the file was read as
    photo_roots: str = ""  # where photo references were accepted from


def _outside_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return True
    return False


def decode_text(raw: bytes, file: Path, encoding: str | None = None) -> tuple[str, str]:
    """The file's text and the encoding it was read in.

    With ``encoding``, that one. Otherwise UTF-8 (with or without BOM); else GB18030, but only when
    every non-ASCII character is in GB2312, the common Chinese set. GB18030 decodes almost any bytes:
    Latin-1 "Müller" reads as "M黮ler", a rare character outside GB2312. Such a file is refused and
    the characters and their line are named, so the operator says which encoding it is."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except LookupError:
            raise ImportFileError(f"{file}: unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ImportFileError(f"{file}: line {line}: not {encoding} text ({exc.reason})") from None
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ImportFileError(f"{file}: neither UTF-8 nor GB18030 text; give --encoding") from None
    for number, line_text in enumerate(text.split("\n"), start=1):
        odd = sorted({ch for ch in line_text if ord(ch) > 0x7F and _outside_gb2312(ch)})
        if odd:
            raise ImportFileError(
                f"{file}: not UTF-8; read as GB18030, line {number} has characters outside common Chinese "
                f"({''.join(odd[:8])}), as Latin-1 or Windows-1252 text would: say which encoding it is with "
                "--encoding (gb18030 to keep these characters, cp1252 or latin-1 for European text)"
            )
    return text, "gb18030"


@dataclass(frozen=True)
class RawRow:
    """One row as read from the file, before validation."""

    line: int  # physical line the row starts on, 1-based
    fields: dict[str, Any]
    problem: str | None = None  # set when the row cannot be used as read


def _csv_rows(text: str, file: Path) -> Iterator[RawRow]:
    """Rows keyed by header, each with the physical line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFileError(f"{file}: empty file, no header row") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ImportFileError(f"{file}: missing column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    while True:
        first_line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(first_line, {}, f"unreadable CSV ({exc})")
            continue
        if not any(f.strip() for f in fields):
            continue  # blank line
        row: dict[str, Any] = dict(zip(header, fields, strict=False))
        extra = len(fields) - len(header)
        yield RawRow(first_line, row, f"{extra} more field(s) than the header has" if extra > 0 else None)


def iter_rows(file: Path, text: str | None = None) -> Iterator[RawRow]:
    """The file's rows with their line numbers; unusable rows carry a problem. ``text`` is the file's
    text when already decoded (``decode_text``)."""
    if text is None:
        text, _ = decode_text(_read(file), file)
    suffix = file.suffix.lower()
    if suffix == ".csv":
        yield from _csv_rows(text, file)
    elif suffix in (".jsonl", ".ndjson"):
        # Split on newlines only: JSON strings may hold U+2028/U+2029 unescaped.
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RawRow(number, {}, f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(obj, dict):
                yield RawRow(number, {}, "a JSON object is expected on each line")
                continue
            yield RawRow(number, {k: ("" if v is None else v) for k, v in obj.items()})
    else:
        raise ImportFileError(f"{file}: unknown file type {suffix!r}; use .csv or .jsonl")


def _fields(rec: SubscriberRecord, source: str) -> dict[str, Any]:
    return {
        "msisdn": rec.msisdn,
        "name": rec.name,
        "id_number": rec.id_number,
        "id_legacy": rec.id_legacy,
        "person_key": person_key(rec.id_number),
        "id_expires_on": rec.id_expires_on,
        "joined_on": rec.joined_on,
        "segment": rec.segment,
        "region_code": rec.region_code,
        "source": source,
    }


def _upsert_batch(session: Session, records: list[SubscriberRecord], source: str, report: ImportReport) -> None:
    ids = [r.account_id for r in records]
    existing = {s.account_id: s for s in session.exec(select(Subscriber).where(col(Subscriber.account_id).in_(ids)))}
    photos_by_sub: dict[int, dict[str, Photo]] = {}
    sub_ids = [s.id for s in existing.values() if s.id is not None]
    if sub_ids:
        for photo in session.exec(select(Photo).where(col(Photo.subscriber_id).in_(sub_ids))):
            photos_by_sub.setdefault(photo.subscriber_id, {})[photo.kind] = photo
    for rec in records:
        values = _fields(rec, source)
        sub = existing.get(rec.account_id)
        changed = False
        if sub is None:
            sub = Subscriber(account_id=rec.account_id, **values)
            session.add(sub)
            session.flush()
            report.inserted += 1
        else:
            changed = any(getattr(sub, k) != v for k, v in values.items() if k != "source")
            if changed:
                for k, v in values.items():
                    setattr(sub, k, v)
                sub.updated_at = utcnow()
        assert sub.id is not None
        current = photos_by_sub.get(sub.id, {})
        for kind, uri in rec.photos.items():
            known_photo = current.get(kind)
            if known_photo is None:
                session.add(Photo(subscriber_id=sub.id, kind=kind, uri=uri))
                changed = True
            elif known_photo.uri != uri:
                known_photo.uri, known_photo.sha256, known_photo.size_bytes, known_photo.scanned_at = (
                    uri,
                    None,
                    None,
                    None,
                )
                changed = True
        for kind, stale in current.items():
            if kind not in rec.photos:
                session.delete(stale)
                changed = True
        if existing.get(rec.account_id) is not None:
            if changed:
                report.updated += 1
            else:
                report.unchanged += 1


def write_rejects(path: Path, rejected: list[RowError]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "reasons", *COLUMNS])
        for err in rejected:
            writer.writerow([err.line, "; ".join(err.reasons), *(err.row.get(c, "") for c in COLUMNS)])


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{file}: cannot read ({exc.strerror or exc})") from None


def import_file(
    engine: Engine,
    file: Path,
    *,
    skip_invalid: bool = False,
    keep_invalid_id: bool = False,
    rejects_path: Path | None = None,
    today: dt.date | None = None,
    encoding: str | None = None,
    photo_roots: Sequence[str] | None = None,
) -> ImportReport:
    """Import ``file``. Photo references must lie under ``photo_roots`` (folders and URL
    prefixes; relative folders against the file's folder), by default the file's own folder."""
    today = today or dt.date.today()
    file = Path(file)
    base_dir = file.resolve().parent
    try:
        roots = PhotoRoots.of(photo_roots or [str(base_dir)], base_dir)
    except PhotoRefError as exc:
        raise ImportFileError(str(exc)) from None
    raw_bytes = _read(file)
    file_sha256 = hashlib.sha256(raw_bytes).hexdigest()
    text, read_as = decode_text(raw_bytes, file, encoding)
    del raw_bytes
    report = ImportReport(file=str(file), encoding=read_as, photo_roots=roots.describe())
    good: list[SubscriberRecord] = []
    seen: dict[str, int] = {}
    for raw in iter_rows(file, text):
        report.rows += 1
        line, row = raw.line, raw.fields
        if raw.problem is not None:
            account = str(row.get("account_id", "")).strip()
            report.rejected.append(RowError(line=line, account_id=account, reasons=(raw.problem,), row=row))
            continue
        result = validate_row(row, line, roots, today, keep_invalid_id=keep_invalid_id)
        if isinstance(result, RowError):
            report.rejected.append(result)
            continue
        if result.account_id in seen:
            report.rejected.append(
                RowError(
                    line=line,
                    account_id=result.account_id,
                    reasons=(f"account_id: duplicate of line {seen[result.account_id]}",),
                    row=row,
                )
            )
            continue
        seen[result.account_id] = line
        report.kept_with_id_defects += bool(result.id_defects)
        good.append(result)

    if report.rejected and not skip_invalid:
        return report  # all-or-nothing: nothing written
    if report.rejected:
        target = rejects_path or file.with_name(file.name + ".rejected.csv")
        write_rejects(target, report.rejected)
        report.rejects_file = str(target)
    with Session(engine) as session:
        for start in range(0, len(good), BATCH):
            _upsert_batch(session, good[start : start + BATCH], str(file.resolve()), report)
        record(
            session.connection(),
            utcnow(),
            "import",
            "import",
            f"file {file.name}",
            file=file.name,
            sha256=file_sha256,
            rows=report.rows,
            inserted=report.inserted,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=len(report.rejected),
        )
        session.commit()
    report.committed = True
    return report
