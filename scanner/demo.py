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
    id_number: str | None = None  # "bad-check-digit" or "legacy": that form of the holder's number
    person: str | None = None  # the identity whose number it is; None: a number of its own
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


# A person holds at most this many numbers in the demo, except the one planted over the limit.
_MOST_NUMBERS = 5
_GENUINE_PER_IDENTITY = 3


class _Persons:
    """Who holds each demo number: an ID portrait's identity is the card holder, so every subscriber
    whose portrait shows one identity holds that identity's number (a person with several numbers),
    never someone else's. Capacity keeps each person within the numbers the rules allow."""

    def __init__(self, rnd: random.Random) -> None:
        self.numbers: dict[str, int] = defaultdict(int)
        self._rnd = rnd

    def take(self, identity: str) -> str:
        self.numbers[identity] += 1
        return identity

    def roomiest(self, identities: list[str]) -> str:
        """The identity with the fewest numbers so far (ties drawn at random)."""
        least = min(self.numbers[i] for i in identities)
        return self.take(self._rnd.choice([i for i in identities if self.numbers[i] == least]))


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
    for files in by_identity.values():
        files.sort()
    # Identities with three or more photos give genuine subscribers; the one with the most photos is the
    # person holding six numbers and the next one the face planted under a second ID number. The others,
    # with fewer photos, are only ever seen in impostors' live photos, so an impostor's face, found under
    # another ID number across the base, never lands on a genuine subscriber.
    rich = sorted((i for i, f in by_identity.items() if len(f) >= 3), key=lambda i: (-len(by_identity[i]), i))
    if len(rich) < 6:
        raise DemoError(f"{faces}: needs at least 6 identities with three or more photos under identities/")
    many, planted, regular = rich[0], rich[1], sorted(rich[2:])
    strangers = sorted(i for i in by_identity if i not in rich) or regular
    persons = _Persons(rnd)
    entries: list[_Entry] = []
    for ident in regular:
        for a, b in list(itertools.pairwise(by_identity[ident]))[:_GENUINE_PER_IDENTITY]:
            entries.append(_Entry("genuine", a, b, person=persons.take(ident)))
    genuine = list(entries)
    rnd.shuffle(genuine)

    def portrait_holder() -> tuple[str, str]:
        ident = persons.roomiest(regular)
        return by_identity[ident][0], ident

    # Live photos with a second person in them; where the photo names a known
    # identity with room for a number, the ID portrait is that person's, so only the extra face is wrong.
    group_photos = sorted(by_folder.get("multi_face", []), key=lambda p: (p not in plain_multi, p))
    for live in group_photos[:8]:
        named = [i for i in regular if i in Path(live).name and persons.numbers[i] < _MOST_NUMBERS]
        portrait, holder = (by_identity[named[0]][0], persons.take(named[0])) if named else portrait_holder()
        entries.append(_Entry("multi_face", portrait, live, person=holder))
    for _n in range(30):
        portrait, holder = portrait_holder()
        entries.append(_Entry("impostor", portrait, rnd.choice(by_identity[rnd.choice(strangers)]), person=holder))
    for cohort, folder, count in (
        ("masked", "occlusion/mask", 20),
        ("sunglasses", "occlusion/sunglasses", 15),
        ("no_face", "no_face", 9),
    ):
        for live in sorted(by_folder.get(folder, []))[:count]:
            portrait, holder = portrait_holder()
            entries.append(_Entry(cohort, portrait, live, person=holder))
    # The 2003 subscriber: joined before photo capture existed; ID card renewed since.
    entries.append(_Entry("no_photo_2003", joined_on=dt.date(2003, 6, 18), id_expires_on="2034-03-01"))
    roomy = iter(genuine)

    def genuine_with_room() -> _Entry:
        """A genuine pair whose holder may take one more number (taken)."""
        g = next(e for e in roomy if persons.numbers[e.person or ""] < _MOST_NUMBERS)
        persons.take(g.person or "")
        return g

    for i in range(3):
        g = genuine_with_room()
        expired = (today - dt.timedelta(days=30 + 200 * i)).isoformat()
        entries.append(_Entry("id_expired", g.id_portrait, g.live_photo, id_expires_on=expired, person=g.person))
    for _i in range(3):
        g = genuine_with_room()
        entries.append(_Entry("id_invalid", g.id_portrait, g.live_photo, id_number="bad-check-digit", person=g.person))
    g = genuine_with_room()
    entries.append(_Entry("id_legacy", g.id_portrait, g.live_photo, id_number="legacy", person=g.person))
    for name in ("truncated", "corrupt", "empty", "not_an_image"):
        portrait, holder = portrait_holder()
        entries.append(_Entry("unreadable", portrait, str(broken[name].resolve()), person=holder))
    # One person holding six numbers, one over the MIIT limit: four under the 18-digit number, two
    # under the 15-digit one it replaced (counted as the same ID).
    pairs = list(itertools.pairwise(by_identity[many]))
    for i in range(6):
        a, b = pairs[i % len(pairs)]
        entries.append(_Entry("id_many_numbers", a, b, id_number="legacy" if i >= 4 else None, person=many))
    # One face under two ID numbers: a person's own registration, and a second number registered under
    # another person's ID with this person's portrait and the very same live photo (re-used at enrolment).
    p1, p2, p3 = by_identity[planted][:3]
    entries.append(_Entry("face_other_id", p1, p2, person=planted))
    entries.append(_Entry("face_other_id", p3, p2, person=None))
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
        numbers: dict[str, str] = {}  # identity -> its person's ID number
        for n, entry in enumerate(entries, start=1):
            account_id = f"DEMO{n:05d}"
            valid_id = _fake_id(fake, today)
            if entry.person is not None:
                valid_id = numbers.setdefault(entry.person, valid_id)
            kind = entry.id_number
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
