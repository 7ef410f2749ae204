"""Rescan runs at scale: shards, the measurement cache, preview runs, faults, resuming a killed run."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PIL import Image
from policy_overlays import policy_with
from sqlalchemy import func, select

from checks.idcard import check_character
from scanner import db
from scanner.importer import import_file
from scanner.models import Finding, ScanRun, ScanShard
from scanner.policyfile import load_policy
from scanner.scan.rescan import RescanError, rescan
from scanner.tables import MEASUREMENT, SCAN_RUN

TODAY = dt.date(2026, 11, 22)
T = TypeVar("T")
R = TypeVar("R")


class Inline:
    """Measures in this process; loses the tasks whose URI contains ``lose``."""

    workers = 1

    def __init__(self, lose: str | None = None) -> None:
        self.lose = lose

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return map(fn, items)

    def run(
        self, fn: Callable[[T], R], items: Iterable[T], *, timeout: float | None, on_lost: Callable[[T, str], R]
    ) -> Iterator[R]:
        for item in items:
            if self.lose and self.lose in getattr(item, "uri", ""):
                yield on_lost(item, "the worker crashed twice while measuring it (exit code -11)")
            else:
                yield fn(item)

    def close(self) -> None:
        return None


def _face_files(faces: Path, n: int) -> list[Path]:
    files = sorted((faces / "identities").glob("*/*.jpg"))
    return files[:: max(1, len(files) // n)][:n]


def write_base(folder: Path, photos: list[Path], subscribers: int) -> Path:
    """``subscribers`` rows whose ID portrait and live photo are real face photos (files shared in turn)."""
    rows = ["account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo"]
    for i in range(subscribers):
        body = f"420102{1960 + i % 40}0{1 + i % 9}1{i % 10}{i % 1000:03d}"
        portrait, live = photos[i % len(photos)], photos[(i + 1) % len(photos)]
        rows.append(
            f"A{i:05d},139{i:08d},测试,{body + check_character(body)},长期,{2005 + i % 20}-03-02,consumer,"
            f"{portrait},{live},"
        )
    csv = folder / "base.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return csv


def findings(engine: Any, run_id: int) -> dict[int, tuple[str, tuple[str, ...], dict[str, float]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Finding.subscriber_id, Finding.verdict, Finding.reasons, Finding.distances).where(  # type: ignore[call-overload]
                Finding.run_id == run_id
            )
        ).all()
    out = {r[0]: (r[1], tuple(r[2]), r[3]) for r in rows}
    assert len(out) == len(rows), "a subscriber has two findings in one run"
    return out


@pytest.fixture
def real_base(tmp_path: Path, faces_dir: Path) -> tuple[Any, int]:
    engine = db.open_engine(f"sqlite:///{tmp_path / 'realname.db'}")
    report = import_file(
        engine, write_base(tmp_path, _face_files(faces_dir, 12), 30), today=TODAY, photo_roots=[str(faces_dir)]
    )
    assert report.committed and report.inserted == 30
    return engine, 30


@pytest.mark.faces
def test_threshold_changes_rejudge_from_the_cache_alone(real_base: tuple[Any, int], tmp_path: Path) -> None:
    engine, n = real_base
    first = rescan(engine, load_policy(), as_of=TODAY, executor=Inline(), page_size=7)
    assert first.status == "finished" and first.totals["subscribers"] == n
    assert first.totals["measured_photos"] == 12  # 60 photo references to 12 distinct files
    assert first.totals["shards"] == 5
    default = load_policy().policy
    stricter = policy_with(
        tmp_path,
        {"checks.clarity.min_sharpness": 2000.0, "policy.version": f"strict-{default.version}"},
        "strict.toml",
    )

    class NoMeasuring(Inline):
        def run(self, fn: Any, items: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
            assert not list(items), "a photo was read although its measurement is cached"
            return iter(())

    second = rescan(engine, load_policy(stricter), as_of=TODAY, executor=NoMeasuring(), page_size=7)
    assert second.totals["measured_photos"] == 0 and second.totals["cached_photos"] == 2 * n
    a, b = findings(engine, first.id), findings(engine, second.id)
    assert a.keys() == b.keys()
    assert all(a[s][2] == b[s][2] for s in a)  # the same distances, from the same stored descriptors
    moved = [s for s in a if a[s][1] != b[s][1]]
    assert moved and all("BLURRY" in b[s][1] and "BLURRY" not in a[s][1] for s in moved)


@pytest.mark.faces
def test_preview_runs_mark_every_finding(real_base: tuple[Any, int]) -> None:
    engine, n = real_base
    run = rescan(engine, load_policy(), as_of=TODAY, executor=Inline(), preview=True)
    assert run.mode == "preview"
    with engine.connect() as conn:
        marks = conn.execute(select(Finding.preview).where(Finding.run_id == run.id)).scalars().all()  # type: ignore[call-overload]
    assert len(marks) == n and all(marks)


def test_broken_and_lost_photos_become_findings_and_the_run_goes_on(tmp_path: Path) -> None:
    photos = tmp_path / "p"
    photos.mkdir()
    Image.new("RGB", (102, 126), (128, 128, 128)).save(photos / "grey.jpg")
    (photos / "truncated.jpg").write_bytes((photos / "grey.jpg").read_bytes()[:150])
    (photos / "text.jpg").write_text("not an image", encoding="utf-8")
    Image.new("1", (12_000, 9_000)).save(photos / "bomb.png")  # 108 megapixels, a few kB on disk
    (photos / "crash.jpg").write_bytes((photos / "grey.jpg").read_bytes())
    names = ["missing.jpg", "truncated.jpg", "text.jpg", "bomb.png", "crash.jpg"]
    rows = ["account_id,msisdn,name,id_number,id_expires_on,joined_on,segment,id_portrait,live_photo,handheld_photo"]
    for i, name in enumerate(names):
        body = f"4201021980011{i}12{i}"
        rows.append(
            f"B{i},1391234567{i},测试,{body + check_character(body)},长期,2015-03-02,consumer,p/grey.jpg,p/{name},"
        )
    (tmp_path / "base.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    engine = db.open_engine(f"sqlite:///{tmp_path / 'realname.db'}")
    assert import_file(engine, tmp_path / "base.csv", today=TODAY).committed
    run = rescan(engine, load_policy(), as_of=TODAY, executor=Inline(lose="crash.jpg"), page_size=2)
    assert run.status == "finished" and run.totals["subscribers"] == len(names)
    assert run.totals["unreadable_photos"] == len(names)
    with engine.connect() as conn:
        evidence = {
            r[0]: r[1]
            for r in conn.execute(select(Finding.subscriber_id, Finding.evidence))  # type: ignore[call-overload]
        }
    details = sorted(e["detail"] for ev in evidence.values() for e in ev if e["code"] == "UNREADABLE_PHOTO")
    assert len(details) == len(names)
    joined = " | ".join(details)
    for expected in ("missing.jpg", "truncated.jpg", "text.jpg", "bomb.png", "crashed twice"):
        assert expected in joined, joined


def test_resume_refuses_a_finished_run_or_a_changed_policy(real_base: tuple[Any, int], tmp_path: Path) -> None:
    engine, _n = real_base
    with pytest.raises(RescanError, match="no scan run with id 99"):
        rescan(engine, resume=99)
    run = rescan(engine, load_policy(), as_of=TODAY, executor=Inline())
    with pytest.raises(RescanError, match="already finished"):
        rescan(engine, resume=run.id)
    with engine.begin() as conn:
        conn.execute(SCAN_RUN.update().values(status="running"))
    changed = tmp_path / "changed.toml"
    changed.write_text(Path(load_policy().path).read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    with pytest.raises(RescanError, match="same policy"):
        rescan(engine, load_policy(changed), resume=run.id)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-P", "-c", "from scanner.cli.app import main; main()", *args]


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A rescan process whose standard error is appended to ``log``."""
    with log.open("ab") as err:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)


def _recorded_starts(engine: Any) -> tuple[int | None, int, str]:
    """(the run's id, the resumes it recorded, its status); (None, 0, "") before the first start created it."""
    with engine.connect() as conn:
        row = conn.execute(
            select(ScanRun.id, ScanRun.totals, ScanRun.status).order_by(ScanRun.id.desc()).limit(1)  # type: ignore[union-attr]
        ).first()
    return (None, 0, "") if row is None else (row[0], int((row[1] or {}).get("resumes", 0)), row[2])


def _wait_until_started(engine: Any, proc: subprocess.Popen[bytes], resumes: int) -> None:
    """Wait until the process has recorded its start (the run row; a resume's count), or has ended.
    A process killed before it recorded itself changed nothing, so the kill timer starts here."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        run_id, recorded, _status = _recorded_starts(engine)
        if run_id is not None and recorded >= resumes:
            return
        time.sleep(0.05)


@pytest.mark.faces
@pytest.mark.slow
def test_a_run_killed_at_random_moments_resumes_without_redoing_or_duplicating(tmp_path: Path, faces_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'realname.db'}"
    engine = db.open_engine(url)
    n = 80
    base = write_base(tmp_path, _face_files(faces_dir, 80), n)
    assert import_file(engine, base, today=TODAY, photo_roots=[str(faces_dir)]).committed
    rng = random.Random(20261122)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = ["rescan", "--database", url, "--workers", "1", "--page-size", "4", "--as-of", TODAY.isoformat(), "--quiet"]
    kills = resumes = 0
    log = tmp_path / "rescan.log"
    proc = _start(_cli(*args), env, log)
    for _attempt in range(20):
        # "resumes" counts the resumes that started: each is recorded before it does any work.
        _wait_until_started(engine, proc, resumes)
        try:
            proc.wait(timeout=rng.uniform(1.0, 4.0) if kills < 4 else None)
            break
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        run_id, _, status = _recorded_starts(engine)
        if status == "finished":  # killed after its last commit, while exiting: nothing left to resume
            break
        resumes += run_id is not None
        resume = ["rescan", "--database", url, "--resume", str(run_id), "--quiet"] if run_id else args
        proc = _start(_cli(*resume), env, log)
    assert proc.returncode in (0, -signal.SIGKILL), log.read_text(encoding="utf-8")
    assert kills >= 2
    with engine.connect() as conn:
        (run_id,) = conn.execute(select(ScanRun.id)).scalars().all()  # type: ignore[call-overload]
        shards = conn.execute(select(ScanShard.shard_no, ScanShard.first_subscriber_id)).all()  # type: ignore[call-overload]
        run = conn.execute(select(ScanRun.status, ScanRun.totals)).one()  # type: ignore[call-overload]
    assert run[0] == "finished" and run[1]["resumes"] == resumes >= 1
    assert sorted(s[0] for s in shards) == list(range(n // 4))  # each shard written once
    assert len({s[1] for s in shards}) == n // 4
    killed = findings(engine, run_id)
    assert len(killed) == n
    clean = rescan(engine, load_policy(), as_of=TODAY, executor=Inline())
    assert findings(engine, clean.id) == killed  # the same findings as a run never killed


@pytest.mark.faces
@pytest.mark.slow
def test_a_dask_local_cluster_gives_the_same_findings_as_the_local_pool(tmp_path: Path, faces_dir: Path) -> None:
    csv_path = write_base(tmp_path, _face_files(faces_dir, 8), 10)
    runs = {}
    for name, kwargs in (("pool", {"workers": 2}), ("dask", {"cluster": "local:2"})):
        engine = db.open_engine(f"sqlite:///{tmp_path / (name + '.db')}")
        assert import_file(engine, csv_path, today=TODAY, photo_roots=[str(faces_dir)]).committed
        run = rescan(engine, load_policy(), as_of=TODAY, page_size=4, **kwargs)  # type: ignore[arg-type]
        assert run.totals["measured_photos"] == 8  # measured here, not taken from a cache
        runs[name] = findings(engine, run.id)
    assert runs["dask"] == runs["pool"]


@pytest.mark.faces
def test_a_new_occlusion_version_remeasures_occlusion_only(
    real_base: tuple[Any, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from checks import face as face_adapter
    from checks import photo
    from scanner.scan import measuretask, shards

    engine, _n = real_base
    first = rescan(engine, load_policy(), as_of=TODAY, executor=Inline())
    parts = {**photo.EXTRACTOR_PARTS, "occlusion": "occlusion-next"}
    version = photo.compose_version(parts)
    monkeypatch.setattr(photo, "EXTRACTOR_PARTS", parts)
    for module in (photo, shards, measuretask):
        monkeypatch.setattr(module, "EXTRACTOR_VERSION", version)

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("detection or the descriptor ran again")

    monkeypatch.setattr(photo, "find_faces", forbidden)
    monkeypatch.setattr(face_adapter, "landmarks", forbidden)
    second = rescan(engine, load_policy(), as_of=TODAY, executor=Inline())
    assert second.totals["measured_photos"] == 12 and second.totals["unreadable_photos"] == 0
    assert findings(engine, second.id) == findings(engine, first.id)
    with engine.connect() as conn:
        versions = conn.execute(select(func.count()).where(MEASUREMENT.c.extractor_version == version)).scalar()
    assert versions == 12


@pytest.mark.faces
def test_measurements_from_before_sface_remeasure_the_faces_part_only(
    real_base: tuple[Any, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from checks import photo

    engine, _n = real_base
    first = rescan(engine, load_policy(), as_of=TODAY, executor=Inline())
    before = photo.compose_version({**photo.EXTRACTOR_PARTS, "faces": photo.FACES_GEOMETRY_VERSION})
    with engine.begin() as conn:
        rows = conn.execute(select(MEASUREMENT.c.id, MEASUREMENT.c["values"])).all()
        assert rows and all(values.get("sface_feature") for _id, values in rows if values.get("face_count"))
        for row_id, values in rows:
            old = {k: v for k, v in values.items() if k != "sface_feature"}
            conn.execute(
                MEASUREMENT.update()
                .where(MEASUREMENT.c.id == row_id)
                .values({"extractor_version": before, "values": old})
            )

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a part other than the faces part was measured again")

    for name in ("_measure_clarity", "_measure_occlusion", "_measure_likeness"):
        monkeypatch.setattr(photo, name, forbidden)
    second = rescan(engine, load_policy(), as_of=TODAY, executor=Inline())
    assert second.totals["measured_photos"] == 12 and second.totals["unreadable_photos"] == 0
    assert findings(engine, second.id) == findings(engine, first.id)
    with engine.connect() as conn:
        current = conn.execute(
            select(MEASUREMENT.c["values"]).where(MEASUREMENT.c.extractor_version == photo.EXTRACTOR_VERSION)
        ).all()
    assert len(current) == 12 and all(v.get("sface_feature") for (v,) in current if v.get("face_count"))


@pytest.mark.faces
def test_a_policy_on_dlib_adds_the_descriptors_to_the_stored_measurements(
    real_base: tuple[Any, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checks import photo

    engine, n = real_base
    first = rescan(engine, load_policy(), as_of=TODAY, executor=Inline())
    assert first.totals["measured_photos"] == 12
    with engine.connect() as conn:
        stored = conn.execute(select(MEASUREMENT.c.descriptor, MEASUREMENT.c["values"])).all()
    # The default policy judges SFace's features: dlib's descriptor (~100 ms a face) is not measured.
    assert len(stored) == 12 and all(d is None and v["face_count"] for d, v in stored)
    # The SFace cosine of every pair is recorded; no dlib distance without descriptors.
    assert all(set(d) == {"id_portrait~live:face_cosine"} for *_rest, d in findings(engine, first.id).values())

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a part was measured again although it is stored")

    for name in ("find_faces", "_measure_clarity", "_measure_occlusion", "_measure_likeness"):
        monkeypatch.setattr(photo, name, forbidden)
    on_dlib = load_policy(policy_with(tmp_path, {"checks.match.model": "dlib", "policy.version": "dlib-1"}))
    second = rescan(engine, on_dlib, as_of=TODAY, executor=Inline())
    assert second.totals["measured_photos"] == 12 and second.totals["unreadable_photos"] == 0
    judged = findings(engine, second.id)
    assert len(judged) == n and all(set(distances) == {"id_portrait~live"} for *_r, distances in judged.values())
    with engine.connect() as conn:
        stored = conn.execute(select(MEASUREMENT.c.descriptor)).all()
    assert len(stored) == 12 and all(d is not None and len(d) == 128 * 8 for (d,) in stored)  # added, no new rows

    class NoMeasuring(Inline):
        def run(self, fn: Any, items: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
            assert not list(items), "a photo was read although its measurement is complete"
            return iter(())

    third = rescan(engine, on_dlib, as_of=TODAY, executor=NoMeasuring())
    assert third.totals["measured_photos"] == 0 and third.totals["cached_photos"] == 2 * n
    assert findings(engine, third.id) == judged
