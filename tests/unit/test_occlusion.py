"""Occlusion checks on real photos, and on occluders painted in code over clear faces."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from checks.judge import PhotoInput, judge_photo
from checks.occlusion import measure_occlusion
from checks.photo import PhotoMeasurement, measure_photo, with_occlusion
from checks.policy import Policy
from scanner.photos import decode_photo, read_photo

pytestmark = [pytest.mark.faces, pytest.mark.slow]
SAMPLE = 80  # clear photos, chosen deterministically; every occluded photo is used


def codes(m: PhotoMeasurement, policy: Policy) -> set[str]:
    return set(judge_photo(PhotoInput(kind="live", measurement=m), policy).codes)


@dataclass
class Sample:
    clear: list[tuple[np.ndarray, PhotoMeasurement]]
    masked: list[PhotoMeasurement]
    sunglasses: list[PhotoMeasurement]
    hats: list[PhotoMeasurement]
    hands: list[PhotoMeasurement]
    clear_sources: list[str]  # the manifest's source_repo of each clear photo


def _rows(faces: Path, folder: str, attribute: str, sample: int | None = None) -> list[dict[str, str]]:
    with (faces / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["file"].startswith(folder) and attribute in r["attributes"]]
    rows.sort(key=lambda r: r["file"])
    if sample is not None:
        rows = rows[:: max(1, len(rows) // sample)][:sample]
    return rows


def _files(faces: Path, folder: str, attribute: str, sample: int | None = None) -> list[Path]:
    return [faces / r["file"] for r in _rows(faces, folder, attribute, sample)]


def _load(path: Path) -> np.ndarray:
    rgb = decode_photo(read_photo(str(path)))
    scale = 800 / max(rgb.shape[:2])
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb


@pytest.fixture(scope="module")
def sample(faces_dir: Path) -> Sample:
    rows = _rows(faces_dir, "identities/", "clear", SAMPLE)
    clear = [(rgb, measure_photo(rgb), r["source_repo"]) for r in rows for rgb in [_load(faces_dir / r["file"])]]
    masked = [measure_photo(_load(p)) for p in _files(faces_dir, "occlusion/mask/", "mask")]
    sunglasses = [measure_photo(_load(p)) for p in _files(faces_dir, "occlusion/sunglasses/", "sunglasses")]
    hats = [measure_photo(_load(p)) for p in _files(faces_dir, "occlusion/", "hat")]
    hands = [measure_photo(_load(p)) for p in _files(faces_dir, "occlusion/", "hand")]
    found = [(rgb, m, source) for rgb, m, source in clear if m.face_count]
    return Sample(
        [(rgb, m) for rgb, m, _ in found], masked, sunglasses, hats, hands, [source for _, _, source in found]
    )


def _points(m: PhotoMeasurement) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    assert m.landmarks is not None
    er, el, nose = (np.array(m.landmarks[i : i + 2]) for i in (0, 2, 4))
    return er, el, nose, float(np.linalg.norm(el - er))


def paint_mask(rgb: np.ndarray, m: PhotoMeasurement) -> np.ndarray:
    """A light-blue surgical mask from the nose bridge down past the chin."""
    _er, _el, nose, d = _points(m)
    out = rgb.copy()
    centre = nose + np.array([0.0, 0.55 * d])
    axes = (int(0.95 * d), int(0.85 * d))
    cv2.ellipse(out, (int(centre[0]), int(centre[1])), axes, 0, 0, 360, (170, 205, 230), -1)
    return out


def paint_sunglasses(rgb: np.ndarray, m: PhotoMeasurement) -> np.ndarray:
    """Two near-black lenses over the eyes."""
    er, el, _nose, d = _points(m)
    out = rgb.copy()
    for eye in (er, el):
        cv2.ellipse(out, (int(eye[0]), int(eye[1])), (int(0.36 * d), int(0.24 * d)), 0, 0, 360, (18, 18, 22), -1)
    return out


def paint_cap(rgb: np.ndarray, m: PhotoMeasurement, colour: tuple[int, int, int]) -> np.ndarray:
    """A cap from half an eye distance above the eyes to well above the head."""
    er, el, _nose, d = _points(m)
    out = rgb.copy()
    mid = (er + el) / 2.0
    top_left = (int(mid[0] - 1.2 * d), int(mid[1] - 2.5 * d))
    bottom_right = (int(mid[0] + 1.2 * d), int(mid[1] - 0.5 * d))
    cv2.rectangle(out, top_left, bottom_right, colour, -1)
    return out


def test_clear_faces_are_rarely_flagged(sample: Sample, default_policy: Policy) -> None:
    flagged = [m for _, m in sample.clear if codes(m, default_policy) & {"EYES_OCCLUDED", "MOUTH_NOSE_OCCLUDED"}]
    rate = len(flagged) / len(sample.clear)
    print(f"clear faces flagged for occlusion: {len(flagged)}/{len(sample.clear)} = {rate:.3f}")
    # Measured (occlusion-7, policy 2026.12-4): 3 of 80; over all 255 clear photos of the set, 6 (2.4%).
    # One more wrong flag in this sample (5%) passes, two more fail.
    assert len(sample.clear) >= 20
    assert rate <= 0.05


def test_real_masks_with_a_face_found_are_flagged(sample: Sample, default_policy: Policy) -> None:
    found = [m for m in sample.masked if m.face_count]
    flagged = sum("MOUTH_NOSE_OCCLUDED" in codes(m, default_policy) for m in found)
    print(f"masked photos: face found {len(found)}/{len(sample.masked)}, MOUTH_NOSE_OCCLUDED {flagged}/{len(found)}")
    not_passed = sum(bool(codes(m, default_policy)) for m in sample.masked) / len(sample.masked)
    print(f"masked photos not passing the photo checks: {not_passed:.3f}")
    # Measured: 57 of 66 with a face found (86%; the mouth redness adds 3 to the skin share's 54),
    # 88% not passing. The bounds sit a few photos below.
    assert found and flagged / len(found) >= 0.8
    assert not_passed >= 0.85


def test_real_sunglasses_with_a_face_found_are_flagged(sample: Sample, default_policy: Policy) -> None:
    found = [m for m in sample.sunglasses if m.face_count]
    flagged = sum("EYES_OCCLUDED" in codes(m, default_policy) for m in found)
    print(f"sunglasses: face found {len(found)}/{len(sample.sunglasses)}, EYES_OCCLUDED {flagged}/{len(found)}")
    # Measured: 39 of 55 (71%); over the whole set 45 of 61 with a face found (74%, the target is 90%).
    # The eye bounds are set below every clear photo, which costs a few sunglasses.
    assert found and flagged / len(found) >= 0.65


def test_real_hats_are_sent_to_review_and_clear_heads_rarely(sample: Sample, default_policy: Policy) -> None:
    found = [m for m in sample.hats if m.face_count]
    covered = sum("HEAD_COVERED" in codes(m, default_policy) for m in found)
    clear = sum("HEAD_COVERED" in codes(m, default_policy) for _, m in sample.clear)
    print(f"hats: face found {len(found)}/{len(sample.hats)}, HEAD_COVERED {covered}/{len(found)}")
    print(f"clear photos with HEAD_COVERED: {clear}/{len(sample.clear)}")
    # Measured (occlusion-7): HEAD_COVERED on 10 of 37 hats with a face found (27%), 0 of 80 clear
    # photos. The floor states today's rate, not the goal (70%): a black cap reads as hair, and a hat
    # above the band is not seen; a drop below 25% is a regression.
    assert len(found) >= 15 and covered / len(found) >= 0.25
    assert clear / len(sample.clear) <= 0.03


def test_the_eye_detector_sees_clear_eyes_and_not_sunglasses(sample: Sample) -> None:
    clear_unseen = np.mean([m.eyes_seen == 0 for _, m in sample.clear])
    shaded_unseen = np.mean([m.eyes_seen == 0 for m in sample.sunglasses if m.face_count])
    print(f"neither eye seen: clear {clear_unseen:.3f}, sunglasses {shaded_unseen:.3f}")
    # Measured: clear 11.3% of this sample (20 of 255 clear photos of the set, 7.8%), sunglasses 72.7%.
    assert clear_unseen <= 0.15
    assert shaded_unseen >= 0.65


def _value(v: float | None) -> float:
    return float("nan") if v is None else v


def test_painted_occluders_are_flagged_in_the_right_region(sample: Sample, default_policy: Policy) -> None:
    """Measured on the same landmarks, so detection cannot hide the result."""
    rules = default_policy.checks.occlusion
    mouth, eyes, seen = [], [], []
    for rgb, m in sample.clear:
        er, el, nose, _d = _points(m)
        args = (tuple(er), tuple(el), tuple(nose))
        before = measure_occlusion(rgb, *args)
        masked = measure_occlusion(paint_mask(rgb, m), *args)
        shaded = measure_occlusion(paint_sunglasses(rgb, m), *args)
        mouth.append([_value(o.mouth_nose_skin_share) for o in (before, masked, shaded)])
        eyes.append((before.eye_skin_luma_ratio, shaded.eye_skin_luma_ratio, masked.eye_skin_luma_ratio))
        seen.append((before.eyes_seen, shaded.eyes_seen, _value(before.eye_skin_share), _value(shaded.eye_skin_share)))
    m = np.array(mouth)
    m = m[~np.isnan(m).any(axis=1)]  # faces with no usable skin reference are not measured
    e = np.array(eyes)
    s = np.array(seen)
    print(f"mouth-nose skin share: clear median {np.median(m[:, 0]):.2f}, painted mask median {np.median(m[:, 1]):.2f}")
    print(f"eye/skin luma ratio: clear median {np.median(e[:, 0]):.2f}, painted lenses median {np.median(e[:, 1]):.2f}")
    print(f"eyes seen: clear mean {s[:, 0].mean():.2f}, painted lenses mean {s[:, 1].mean():.2f}")
    assert len(m) >= 0.8 * len(sample.clear)
    assert np.mean(m[:, 1] < rules.min_mouth_nose_skin_share) >= 0.9  # a painted mask leaves no skin there
    assert np.mean(e[:, 1] < rules.min_eye_skin_luma_ratio) >= 0.9  # painted lenses darken the eye boxes
    assert np.mean(s[:, 1] == 0) >= 0.8  # and hide the eyes from the eye detector
    skin = s[~np.isnan(s[:, 2:]).any(axis=1)]
    print(
        f"eye skin share: clear median {np.median(skin[:, 2]):.2f}, painted lenses median {np.median(skin[:, 3]):.2f}"
    )
    assert np.mean(skin[:, 3] < rules.min_eye_skin_share) >= 0.9  # and the skin around the eyes
    # Each occluder moves its own region's measurement, not much the other's.
    assert np.median(np.abs(m[:, 2] - m[:, 0])) < 0.1
    assert np.median(m[:, 1]) < np.median(m[:, 0]) - 0.4


def test_a_face_cut_off_by_the_photo_edge_is_not_measured_there(sample: Sample) -> None:
    """Below the nose the photo ends (a tight crop): no mouth-and-nose figure, rather than a wrong one."""
    cut, kept = [], []
    for rgb, m in sample.clear:
        er, el, nose, _d = _points(m)
        h, w = rgb.shape[:2]
        args = (tuple(er), tuple(el), tuple(nose))
        cut.append(measure_occlusion(rgb, *args, inside=(0, 0, w, int(nose[1]))).mouth_nose_skin_share)
        kept.append(measure_occlusion(rgb, *args, inside=(0, 0, w, h)).mouth_nose_skin_share)
    assert np.mean([v is None for v in cut]) >= 0.95
    # The whole photo inside: the same figures as without the argument.
    full = [
        measure_occlusion(rgb, *(tuple(p) for p in _points(m)[:3])).mouth_nose_skin_share for rgb, m in sample.clear
    ]
    assert kept == full


def test_a_painted_coloured_cap_covers_the_head_band_only(sample: Sample, default_policy: Policy) -> None:
    limit = default_policy.checks.occlusion.max_head_cover_share
    rows = []
    for rgb, m in sample.clear:
        args = tuple(tuple(p) for p in _points(m)[:3])
        before = measure_occlusion(rgb, *args)
        capped = measure_occlusion(paint_cap(rgb, m, (200, 40, 40)), *args)
        if before.head_cover_share is None or capped.head_cover_share is None:
            continue
        rows.append(
            (before.head_cover_share, capped.head_cover_share, before.eye_skin_luma_ratio, capped.eye_skin_luma_ratio)
        )
    r = np.array(rows)
    print(f"head cover share: clear median {np.median(r[:, 0]):.2f}, red cap median {np.median(r[:, 1]):.2f}")
    assert len(r) >= 0.8 * len(sample.clear)
    assert np.mean(r[:, 1] > limit) >= 0.9
    assert np.mean(r[:, 0] > limit) <= 0.05
    # The cap ends above the brows: the eyes read the same.
    assert np.median(np.abs(r[:, 3] - r[:, 2])) < 0.05


OCCLUSION = {"EYES_OCCLUDED", "MOUTH_NOSE_OCCLUDED", "HEAD_COVERED"}


def test_clear_faces_are_rarely_flagged_in_every_source(sample: Sample, default_policy: Policy) -> None:
    """A rule that holds on one source and fails on another shows here (sources with 10 photos or more)."""
    by_source: dict[str, list[bool]] = {}
    for (_, m), source in zip(sample.clear, sample.clear_sources, strict=True):
        by_source.setdefault(source, []).append(bool(codes(m, default_policy) & OCCLUSION))
    counted = {source: flags for source, flags in by_source.items() if len(flags) >= 10}
    for source, flags in sorted(by_source.items()):
        print(f"{source}: clear photos with an occlusion reason {sum(flags)}/{len(flags)}")
    # Measured: chandrikadeb7 (AFDB crops of Chinese faces) 1 of 42, serengil/deepface 0 of 30.
    # Over all 255 clear photos: chandrikadeb7 4 of 140, deepface 0 of 61. Five wrong flags in the
    # AFDB sample (12%) would fail.
    assert len(counted) >= 2
    for source, flags in counted.items():
        assert sum(flags) / len(flags) <= 0.1, source


def _axes(m: PhotoMeasurement) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Mid-point of the eyes, nose tip, the eye line's unit vector (image left to right), 'down', eye distance."""
    er, el, nose, d = _points(m)
    a, b = sorted((er, el), key=lambda p: float(p[0]))
    across = (b - a) / d
    down = np.array([-across[1], across[0]])
    mid = (a + b) / 2.0
    if float(np.dot(nose - mid, down)) < 0:
        down = -down
    return mid, nose, across, down, d


def _quad(centre: np.ndarray, across: np.ndarray, down: np.ndarray, half_w: float, half_h: float) -> np.ndarray:
    corners = [centre + sx * half_w * across + sy * half_h * down for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return np.round(corners).astype(np.int32)


RGBColour = tuple[int, int, int]
Painter = Callable[[np.ndarray, PhotoMeasurement, RGBColour], np.ndarray]


def paint_eye_band(rgb: np.ndarray, m: PhotoMeasurement, colour: tuple[int, int, int]) -> np.ndarray:
    """A flat band over both eyes, along the eye line: a censor bar, a visor, a scarf pulled up."""
    mid, _nose, across, down, d = _axes(m)
    out = rgb.copy()
    cv2.fillConvexPoly(out, _quad(mid, across, down, 0.95 * d, 0.25 * d), colour)
    return out


def paint_hand(rgb: np.ndarray, m: PhotoMeasurement, colour: tuple[int, int, int]) -> np.ndarray:
    """A skin-coloured hand over the mouth and nose: a flat palm with three darker gaps between fingers."""
    _mid, nose, across, down, d = _axes(m)
    out = rgb.copy()
    centre = nose + 0.45 * d * down
    cv2.fillConvexPoly(out, _quad(centre, across, down, 0.75 * d, 0.6 * d), colour)
    gap = tuple(int(0.6 * v) for v in colour)
    for k in (-0.3, 0.0, 0.3):
        start, end = (np.round(centre + k * d * down + s * 0.75 * d * across).astype(int) for s in (-1, 1))
        cv2.line(out, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])), gap, max(1, round(0.04 * d)))
    return out


def _judged(m: PhotoMeasurement, rgb: np.ndarray, policy: Policy) -> set[str]:
    """The occlusion reasons for ``rgb`` measured on ``m``'s landmarks (detection cannot hide the result)."""
    er, el, nose, _d = _points(m)
    painted = with_occlusion(replace(m, face_count=1), measure_occlusion(rgb, tuple(er), tuple(el), tuple(nose)))
    return codes(painted, policy) & OCCLUSION


# Black, mid grey, navy and off-white: dark and light, neutral and coloured.
BAND_COLOURS = ((20, 20, 20), (128, 128, 128), (40, 50, 110), (235, 235, 235))
# Hands of light, medium, dark and pink skin (RGB), none sampled from the face it covers.
HAND_COLOURS = ((236, 188, 160), (198, 134, 96), (141, 85, 60), (255, 205, 180))


def _painted_rates(
    sample: Sample, policy: Policy, paint: Painter, colours: tuple[RGBColour, ...], code: str
) -> dict[RGBColour, float]:
    """Per colour, the share of the clear sample faces flagged ``code`` once ``paint`` drew on them."""
    return {
        colour: float(np.mean([code in _judged(m, paint(rgb, m, colour), policy) for rgb, m in sample.clear]))
        for colour in colours
    }


def test_a_painted_band_over_the_eyes_is_flagged_whatever_its_colour(sample: Sample, default_policy: Policy) -> None:
    rates = _painted_rates(sample, default_policy, paint_eye_band, BAND_COLOURS, "EYES_OCCLUDED")
    print("painted eye bands flagged EYES_OCCLUDED:", rates)
    # Measured: 97.5% to 100% (the grey and the white band each pass 2 of the 80 faces). Dark bands
    # darken the eye boxes, light and coloured ones replace the skin there, and every band hides the
    # eyes from the eye detector.
    assert all(rate >= 0.95 for rate in rates.values()), rates


def test_a_painted_hand_over_the_mouth(sample: Sample, default_policy: Policy) -> None:
    rates = _painted_rates(sample, default_policy, paint_hand, HAND_COLOURS, "MOUTH_NOSE_OCCLUDED")
    clear = float(np.mean(["MOUTH_NOSE_OCCLUDED" in _judged(m, rgb, default_policy) for rgb, m in sample.clear]))
    print("painted hands flagged MOUTH_NOSE_OCCLUDED:", rates, f"(the same faces unpainted: {clear:.3f})")
    # Measured: 14% to 36% by tone, unpainted 2.5%. This is the checks' known weak point: skin of any
    # tone has nearly the chroma of the face's own skin, so the skin share stays high, and the palm
    # is as red as the skin, so the mouth redness stays near zero. Only hands whose chroma differs
    # from the face's are caught. The floors guard today's rates against a regression.
    assert min(rates.values()) >= 0.1, rates
    assert clear <= 0.05


def test_real_hands_over_the_face(sample: Sample, default_policy: Policy) -> None:
    found = [m for m in sample.hands if m.face_count]
    flagged = sum(bool(codes(m, default_policy) & OCCLUSION) for m in found)
    print(f"hands: face found {len(found)}/{len(sample.hands)}, an occlusion reason {flagged}/{len(found)}")
    # Measured: 5 of 17 (29%); the target is 70%. On the face crops of `realname calibrate`, 4 of 17,
    # all 4 hands over a mask, and none of the 11 hands on a bare face. See the painted hands above
    # for why: the measures see colour, and a hand has the face's colour.
    assert len(found) >= 15 and flagged >= 4
