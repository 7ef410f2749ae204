"""BLURRY and TOO_DARK on real blurred, dim and clear photographs, per source, and on variants made in code.

The photos are read in place from the face set (``REALNAME_FACES_DIR``); nothing
is copied. Every photo labelled ``blurry`` or ``low_light`` is measured, and
every clear photo (large photos are shrunk to ``MAX_SIDE_PX`` first, which
leaves the face wider than the 128 px the clarity part measures it at). The
variants (motion blur, defocus, JPEG, low light with sensor noise) are made from
a deterministic sample of the clear photos, and only their clarity part is
measured again, where the faces part found the face on the original: what is
measured is the clarity check, not the detector (``realname calibrate``
measures the whole pipeline on the variants; figures in BENCHMARKS.md).
Rates are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from checks import variants
from checks.judge import PhotoInput, judge_photo
from checks.photo import PhotoMeasurement, measure_photo
from checks.policy import Policy
from scanner.photos import decode_photo, read_photo

pytestmark = [pytest.mark.faces, pytest.mark.slow]

RGB = npt.NDArray[np.uint8]
MAX_SIDE_PX = 1024
VARIANT_SAMPLE = 48
QUALITY = {"BLURRY", "TOO_DARK", "TOO_BRIGHT"}
SHEN = "joanshen0508/Deep-Semantic-Face-Deblurring"
# Parts reused from the original when a variant's clarity is measured again.
NOT_CLARITY = frozenset({"faces", "occlusion", "likeness"})


@dataclass(frozen=True)
class Measured:
    file: str
    source: str
    attributes: frozenset[str]
    measurement: PhotoMeasurement


@dataclass
class FaceSet:
    photos: list[Measured]
    variants: dict[str, list[PhotoMeasurement]]


def _load(path: Path) -> RGB:
    rgb = decode_photo(read_photo(str(path)))
    scale = MAX_SIDE_PX / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    return np.asarray(cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _derived(rgb: RGB, face_width_px: float, turn: int) -> dict[str, RGB]:
    """The variants calibrate makes (scanner.scan.calibrate.VARIANT_SPECS), at the same strengths."""
    angle = (0.0, 45.0, 90.0, 135.0)[turn % 4]
    return {
        "motion_weak": variants.motion_blur(rgb, 0.08 * face_width_px, angle),
        "motion_strong": variants.motion_blur(rgb, 0.16 * face_width_px, angle),
        "defocus_weak": variants.defocus_blur(rgb, 0.03 * face_width_px),
        "defocus_strong": variants.defocus_blur(rgb, 0.06 * face_width_px),
        "jpeg_weak": variants.reencode_jpeg(rgb, 15),
        "jpeg_strong": variants.reencode_jpeg(rgb, 5),
        "low_light_weak": variants.low_light(rgb, 1 / 16),
        "low_light_strong": variants.low_light(rgb, 1 / 256),
    }


@pytest.fixture(scope="module")
def face_set(faces_dir: Path) -> FaceSet:
    with (faces_dir / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["file"])
    wanted = [
        r for r in rows if r["attributes"] == "clear" or {"blurry", "low_light"} & set(r["attributes"].split(";"))
    ]
    photos: list[Measured] = []
    images: dict[str, RGB] = {}
    for row in wanted:
        rgb = _load(faces_dir / row["file"])
        attributes = frozenset(row["attributes"].split(";"))
        photos.append(Measured(row["file"], row["source_repo"], attributes, measure_photo(rgb)))
        if attributes == {"clear"}:
            images[row["file"]] = rgb
    clear = [p for p in photos if p.attributes == {"clear"} and p.measurement.face_width_px is not None]
    picks = np.linspace(0, len(clear) - 1, VARIANT_SAMPLE).round().astype(int)
    derived: dict[str, list[PhotoMeasurement]] = defaultdict(list)
    for turn, index in enumerate(sorted(set(picks.tolist()))):
        original = clear[index].measurement
        assert original.face_width_px is not None
        for name, rgb in _derived(images[clear[index].file], original.face_width_px, turn).items():
            derived[name].append(measure_photo(rgb, original, NOT_CLARITY))
    return FaceSet(photos, dict(derived))


def codes(m: PhotoMeasurement, policy: Policy) -> set[str]:
    return set(judge_photo(PhotoInput(kind="live", measurement=m), policy).codes)


def _rate(photos: list[Measured], hit: set[str], policy: Policy) -> tuple[int, int]:
    return sum(bool(codes(p.measurement, policy) & hit) for p in photos), len(photos)


def _by_source(photos: list[Measured], hit: set[str], policy: Policy) -> dict[str, tuple[int, int]]:
    sources = sorted({p.source for p in photos})
    return {s: _rate([p for p in photos if p.source == s], hit, policy) for s in sources}


def test_real_blurred_photos_flagged_blurry(face_set: FaceSet, default_policy: Policy) -> None:
    blurry = [p for p in face_set.photos if "blurry" in p.attributes]
    assert len(blurry) == 19
    hits, n = _rate(blurry, {"BLURRY"}, default_policy)
    per_source = _by_source(blurry, {"BLURRY"}, default_policy)
    missed = [p.file for p in blurry if "BLURRY" not in codes(p.measurement, default_policy)]
    print(f"\nBLURRY on real blurred photos: {hits}/{n}; per source {per_source}; missed {missed}")
    # Measured 17 of 19 (89%; policy 2026.12-3: 2 of 19). The bound leaves one photo of margin
    # under the measured count and stays above the 80% target.
    assert hits >= 16
    # Motion-blurred face crops (128 px, mostly soft blur): measured 16 of 18 (2 of 18 before).
    shen_hits, shen_n = per_source[SHEN]
    assert shen_n == 18 and shen_hits >= 15


def test_real_low_light_photos_flagged_too_dark(face_set: FaceSet, default_policy: Policy) -> None:
    dim = [p for p in face_set.photos if "low_light" in p.attributes]
    hits, n = _rate(dim, {"TOO_DARK"}, default_policy)
    per_source = _by_source(dim, {"TOO_DARK"}, default_policy)
    missed = [p.file for p in dim if "TOO_DARK" not in codes(p.measurement, default_policy)]
    print(f"\nTOO_DARK on real low-light photos: {hits}/{n}; per source {per_source}; missed {missed}")
    # Measured 20 of 23 (87%), as under policy 2026.12-3: the three misses (face luma 51-59, SNR
    # 39-67) are two clean low-key portraits and a night-shake photo that is BLURRY instead; no rule
    # calls them dark. One photo of margin.
    assert hits >= 19
    # Every ambient-light Yale photo and every dark phone photo: 12 of 12 and 7 of 7 measured.
    assert per_source["Uranium2/recognition"] == (12, 12)
    assert per_source["rayhanhemel/Human-Face-Detection-in-Excessive-Dark-Image"] == (7, 7)


def test_clear_photos_rarely_flagged_for_quality(face_set: FaceSet, default_policy: Policy) -> None:
    clear = [p for p in face_set.photos if p.attributes == {"clear"}]
    assert len(clear) >= 250
    hits, n = _rate(clear, QUALITY, default_policy)
    per_source = _by_source(clear, QUALITY, default_policy)
    flagged = [p.file for p in clear if codes(p.measurement, default_policy) & QUALITY]
    print(f"\nclear photos flagged BLURRY/TOO_DARK/TOO_BRIGHT: {hits}/{n}; per source {per_source}; {flagged}")
    # Measured 0 of 255 (the highest clear edge spread is just under the bound, which the policy
    # sets above it). The whole budget for wrong flags on clear photos (occlusion included) is 2%;
    # the clarity checks may take at most 1% of it: 2 photos.
    assert hits <= 2
    # No source loses more than one clear photo to the clarity checks.
    assert all(k <= 1 for k, _n in per_source.values()), per_source


def _variant_rate(face_set: FaceSet, name: str, hit: str, policy: Policy) -> float:
    found = face_set.variants[name]
    assert len(found) == VARIANT_SAMPLE
    rate = sum(hit in codes(m, policy) for m in found) / len(found)
    print(f"\n{name}: {hit} on {rate:.3f} of {len(found)}")
    return rate


@pytest.mark.parametrize(
    ("name", "bound"),
    [
        # Measured 0.77: a smear of 8% of the face width at one angle; the sharpest quarter of the
        # edges lies along the motion, so the widest-orientation bound carries most of it.
        ("motion_weak", 0.6),
        # Measured 1.0 (16% of the face width).
        ("motion_strong", 0.95),
        # Measured 0.98: a disk of radius 3% of the face width spreads an edge over 6%.
        ("defocus_weak", 0.9),
        ("defocus_strong", 0.95),  # measured 1.0
    ],
)
def test_blur_variants_flagged_blurry(face_set: FaceSet, default_policy: Policy, name: str, bound: float) -> None:
    assert _variant_rate(face_set, name, "BLURRY", default_policy) >= bound


def test_heavy_jpeg_is_blurry_and_moderate_jpeg_mostly_is_not(face_set: FaceSet, default_policy: Policy) -> None:
    # Compression does not spread edges; it turns the face into 8x8 blocks (``block_artifacts``).
    # Quality 5 leaves a mosaic: every face measured 2.75 or more against the bound of 2.0 (physical:
    # block edges twice the detail inside the blocks), so at least 95%. Quality 15 is still a
    # usable face for many photos: it is flagged where its blocks dominate, not pinned here beyond
    # staying under the heavy rate.
    strong = _variant_rate(face_set, "jpeg_strong", "BLURRY", default_policy)
    weak = _variant_rate(face_set, "jpeg_weak", "BLURRY", default_policy)
    print(f"\nJPEG 5 flagged BLURRY: {strong:.1%}; JPEG 15: {weak:.1%}")
    assert strong >= 0.95
    assert weak <= strong


@pytest.mark.parametrize(
    ("name", "bound"),
    [
        # Measured 0.21: a sixteenth of the light, two stops under after the gain: dim (face luma
        # about 77) but only slightly grainy at 128 px, which is still usable; the darkest and
        # grainiest are caught. Bound: half the measured rate.
        ("low_light_weak", 0.1),
        # Measured 1.0: 1/256 of the light: the gain's noise swamps the face's contrast.
        ("low_light_strong", 0.9),
    ],
)
def test_low_light_variants_flagged_too_dark(
    face_set: FaceSet, default_policy: Policy, name: str, bound: float
) -> None:
    assert _variant_rate(face_set, name, "TOO_DARK", default_policy) >= bound


def test_low_light_variants_are_not_called_blurred(face_set: FaceSet, default_policy: Policy) -> None:
    # Noise adds sharp detail, never edge spread: a grainy face is TOO_DARK, not BLURRY (measured 0.0).
    for name in ("low_light_weak", "low_light_strong"):
        assert _variant_rate(face_set, name, "BLURRY", default_policy) <= 0.05
