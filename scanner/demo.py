"""Build a demo subscriber base from a face photo set (``manifest.csv`` + photos).

The photos are referenced in place, never copied. Names, phone numbers and ID
numbers are generated (Faker, zh_CN) and belong to nobody. Each subscriber
belongs to a cohort that says what the rescan should find; the cohorts are
written beside the base (``cohorts.csv``) so the result can be checked.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faker import Faker
from PIL import Image

from checks.idcard import check_character, measure_id_number
from scanner.records import COLUMNS, normalise_msisdn

SEED = 2026


class DemoError(Exception):
    pass


@dataclass(frozen=True)
class DemoBase:
    csv_path: Path
    cohorts_path: Path
    subscribers: int
    # Where its photos are: the face set, and the work folder with the broken images made for it.
    photo_roots: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Entry:
    cohort: str
    id_portrait: str = ""
    live_photo: str = ""
    joined_on: dt.date | None = None
    id_expires_on: str | None = None
    id_number: str | None = None
    segment: str = "consumer"


def _manifest(faces: Path) -> list[dict[str, str]]:
    manifest = faces / "manifest.csv"
    if not manifest.is_file():
        raise DemoError(f"{manifest}: not found; point --faces (or REALNAME_FACES_DIR) at the face photo set")
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if (faces / r["file"]).is_file()]
    if not rows:
        raise DemoError(f"{manifest}: lists no photo that exists under {faces}")
    return rows


def _write_broken_images(folder: Path) -> dict[str, Path]:
    """Photos a real base contains: corrupt, truncated, empty, not an image."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    gradient = np.tile(np.linspace(0, 255, 256, dtype=np.uint8), (256, 1))
    buf = io.BytesIO()
    Image.fromarray(np.stack([gradient, gradient.T, gradient // 2], axis=-1)).save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    files = {
        "truncated": (folder / "truncated.jpg", jpeg[: len(jpeg) // 3]),
        "corrupt": (folder / "corrupt.jpg", jpeg[:20] + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()),
        "empty": (folder / "empty.jpg", b""),
        "not_an_image": (folder / "notes.jpg", "这不是照片 / not a photo\n".encode()),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {name: path for name, (path, _) in files.items()}


def _cohorts(faces: Path, rows: list[dict[str, str]], broken: dict[str, Path], today: dt.date) -> list[_Entry]:
    rnd = random.Random(SEED)
    by_identity: dict[str, list[str]] = defaultdict(list)
    by_folder: dict[str, list[str]] = defaultdict(list)
    plain_multi: set[str] = set()  # group photos with no other attribute (no masks, no sunglasses)
    for r in rows:
        path = str((faces / r["file"]).resolve())
        folder = (
            r["file"].split("/")[0] if not r["file"].startswith("occlusion/") else "/".join(r["file"].split("/")[:2])
        )
        by_folder[folder].append(path)
        if r["file"].startswith("identities/"):
            by_identity[r["identity"]].append(path)
        if r["attributes"] == "multi_face":
            plain_multi.add(path)
    identities = sorted(i for i, files in by_identity.items() if len(files) >= 2)
    if len(identities) < 4:
        raise DemoError(f"{faces}: needs at least 4 identities with two or more photos under identities/")
    entries: list[_Entry] = []
    for ident in identities:
        files = sorted(by_identity[ident])
        for a, b in itertools.pairwise(files):
            entries.append(_Entry("genuine", a, b))
    genuine = list(entries)
    rnd.shuffle(genuine)
    clear = [sorted(by_identity[i])[0] for i in identities]
    for _n in range(30):
        a, b = rnd.sample(identities, 2)
        entries.append(_Entry("impostor", sorted(by_identity[a])[0], rnd.choice(by_identity[b])))
    for cohort, folder, count in (
        ("masked", "occlusion/mask", 20),
        ("sunglasses", "occlusion/sunglasses", 15),
        ("no_face", "no_face", 9),
    ):
        for live in sorted(by_folder.get(folder, []))[:count]:
            entries.append(_Entry(cohort, rnd.choice(clear), live))
    # Live photos with a second person in them; where the photo names a known
    # identity, the ID portrait is that person's, so only the extra face is wrong.
    group_photos = sorted(by_folder.get("multi_face", []), key=lambda p: (p not in plain_multi, p))
    for live in group_photos[:8]:
        named = [i for i in identities if i in Path(live).name]
        portrait = sorted(by_identity[named[0]])[0] if named else rnd.choice(clear)
        entries.append(_Entry("multi_face", portrait, live))
    # The 2003 subscriber: joined before photo capture existed; ID card renewed since.
    entries.append(_Entry("no_photo_2003", joined_on=dt.date(2003, 6, 18), id_expires_on="2034-03-01"))
    for i in range(3):
        g = genuine[i]
        expired = (today - dt.timedelta(days=30 + 200 * i)).isoformat()
        entries.append(_Entry("id_expired", g.id_portrait, g.live_photo, id_expires_on=expired))
    for i in range(3):
        g = genuine[3 + i]
        entries.append(_Entry("id_invalid", g.id_portrait, g.live_photo, id_number="bad-check-digit"))
    g = genuine[6]
    entries.append(_Entry("id_legacy", g.id_portrait, g.live_photo, id_number="legacy"))
    for name in ("truncated", "corrupt", "empty", "not_an_image"):
        entries.append(_Entry("unreadable", rnd.choice(clear), str(broken[name].resolve())))
    # One person holding six numbers, one over the MIIT limit: four under the 18-digit number, two
    # under the 15-digit one it replaced (counted as the same ID).
    for i in range(6):
        g = genuine[(7 + i) % len(genuine)]
        entries.append(
            _Entry("id_many_numbers", g.id_portrait, g.live_photo, id_number="shared-legacy" if i >= 4 else "shared")
        )
    return entries


def _fake_id(fake: Faker, today: dt.date) -> str:
    for _ in range(100):
        number = fake.ssn(min_age=18, max_age=85)  # type: ignore[call-arg]
        if measure_id_number(number, today).valid:
            return str(number)
    raise DemoError("could not generate a valid ID number")


def _fake_msisdn(fake: Faker, used: set[str]) -> str:
    for _ in range(1000):
        msisdn = normalise_msisdn(fake.phone_number())
        if msisdn and msisdn not in used:
            used.add(msisdn)
            return msisdn
    raise DemoError("could not generate a mobile number")


def _special_id(kind: str, valid: str) -> str:
    if kind == "bad-check-digit":
        right = check_character(valid[:17])
        wrong = next(c for c in "0123456789X" if c != right)
        return valid[:17] + wrong
    if kind == "legacy":
        return valid[:6] + valid[8:14] + valid[14:17]  # 15 digits: region, YYMMDD, order
    return valid


def build_demo_base(faces: Path, workdir: Path, today: dt.date | None = None) -> DemoBase:
    today = today or dt.date.today()
    faces = Path(faces)
    workdir = Path(workdir)
    rows = _manifest(faces)
    workdir.mkdir(parents=True, exist_ok=True)
    broken = _write_broken_images(workdir / "generated")
    entries = _cohorts(faces, rows, broken, today)

    fake = Faker("zh_CN")
    Faker.seed(SEED)
    rnd = random.Random(SEED + 1)
    used: set[str] = set()
    csv_path = workdir / "subscribers.csv"
    cohorts_path = workdir / "cohorts.csv"
    with (
        csv_path.open("w", newline="", encoding="utf-8") as fh,
        cohorts_path.open("w", newline="", encoding="utf-8") as ch,
    ):
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        writer.writeheader()
        cohort_writer = csv.writer(ch)
        cohort_writer.writerow(["account_id", "cohort"])
        shared: str | None = None  # the ID number of the person holding several numbers
        for n, entry in enumerate(entries, start=1):
            account_id = f"DEMO{n:05d}"
            valid_id = _fake_id(fake, today)
            if entry.id_number in ("shared", "shared-legacy"):
                shared = shared or valid_id
                valid_id = shared
            kind = "legacy" if entry.id_number == "shared-legacy" else entry.id_number
            id_number = _special_id(kind, valid_id) if kind else valid_id
            joined = entry.joined_on or dt.date(rnd.randint(2008, 2025), rnd.randint(1, 12), rnd.randint(1, 28))
            if entry.id_expires_on is not None:
                expires = entry.id_expires_on
            else:
                expires = (today + dt.timedelta(days=rnd.randint(200, 3650))).isoformat()
            writer.writerow(
                {
                    "account_id": account_id,
                    "msisdn": _fake_msisdn(fake, used),
                    "name": fake.name(),
                    "id_number": id_number,
                    "id_expires_on": expires,
                    "joined_on": joined.isoformat(),
                    "segment": "enterprise" if n % 17 == 0 else entry.segment,
                    "id_portrait": entry.id_portrait,
                    "live_photo": entry.live_photo,
                    "handheld_photo": "",
                }
            )
            cohort_writer.writerow([account_id, entry.cohort])
    return DemoBase(
        csv_path=csv_path,
        cohorts_path=cohorts_path,
        subscribers=len(entries),
        photo_roots=(str(faces.resolve()), str(workdir.resolve())),
    )
