"""Occlusion checks on real photos, and on occluders painted in code over clear faces."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from checks.judge import PhotoInput, judge_photo
from checks.occlusion import measure_occlusion
from checks.photo import PhotoMeasurement, measure_photo
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


def _files(faces: Path, folder: str, attribute: str, sample: int | None = None) -> list[Path]:
    with (faces / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["file"].startswith(folder) and attribute in r["attributes"]]
    rows.sort(key=lambda r: r["file"])
    if sample is not None:
        rows = rows[:: max(1, len(rows) // sample)][:sample]
    return [faces / r["file"] for r in rows]


def _load(path: Path) -> np.ndarray:
    rgb = decode_photo(read_photo(str(path)))
    scale = 800 / max(rgb.shape[:2])
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb


@pytest.fixture(scope="module")
def sample(faces_dir: Path) -> Sample:
    clear = [(rgb, measure_photo(rgb)) for rgb in map(_load, _files(faces_dir, "identities/", "clear", SAMPLE))]
    masked = [measure_photo(_load(p)) for p in _files(faces_dir, "occlusion/mask/", "mask")]
    sunglasses = [measure_photo(_load(p)) for p in _files(faces_dir, "occlusion/sunglasses/", "sunglasses")]
    hats = [measure_photo(_load(p)) for p in _files(faces_dir, "occlusion/", "hat")]
    return Sample([(rgb, m) for rgb, m in clear if m.face_count], masked, sunglasses, hats)


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
    assert len(sample.clear) >= 20
    assert rate <= 0.05


def test_real_masks_with_a_face_found_are_flagged(sample: Sample, default_policy: Policy) -> None:
    found = [m for m in sample.masked if m.face_count]
    flagged = sum("MOUTH_NOSE_OCCLUDED" in codes(m, default_policy) for m in found)
    print(f"masked photos: face found {len(found)}/{len(sample.masked)}, MOUTH_NOSE_OCCLUDED {flagged}/{len(found)}")
    not_passed = sum(bool(codes(m, default_policy)) for m in sample.masked) / len(sample.masked)
    print(f"masked photos not passing the photo checks: {not_passed:.3f}")
    assert found and flagged / len(found) >= 0.7
    assert not_passed >= 0.85


def test_real_sunglasses_with_a_face_found_are_flagged(sample: Sample, default_policy: Policy) -> None:
    found = [m for m in sample.sunglasses if m.face_count]
    flagged = sum("EYES_OCCLUDED" in codes(m, default_policy) for m in found)
    print(f"sunglasses: face found {len(found)}/{len(sample.sunglasses)}, EYES_OCCLUDED {flagged}/{len(found)}")
    # Measured on the whole set: 61% of all sunglasses photos flagged (the target is 80%).
    assert found and flagged / len(found) >= 0.6


def test_real_hats_are_sent_to_review_and_clear_heads_rarely(sample: Sample, default_policy: Policy) -> None:
    found = [m for m in sample.hats if m.face_count]
    covered = sum("HEAD_COVERED" in codes(m, default_policy) for m in found)
    clear = sum("HEAD_COVERED" in codes(m, default_policy) for _, m in sample.clear)
    print(f"hats: face found {len(found)}/{len(sample.hats)}, HEAD_COVERED {covered}/{len(found)}")
    print(f"clear photos with HEAD_COVERED: {clear}/{len(sample.clear)}")
    # Measured on the sample (the set with its real hats added): HEAD_COVERED on 11 of 37 hats with a face
    # found (30% of 22 before the set grew), 0 of 80 clear photos. The floor states today's rate, not the
    # goal: raising it is the occlusion check's work on hats; a drop below 25% is a regression.
    assert len(found) >= 15 and covered / len(found) >= 0.25
    assert clear / len(sample.clear) <= 0.03


def test_the_eye_detector_sees_clear_eyes_and_not_sunglasses(sample: Sample) -> None:
    clear_unseen = np.mean([m.eyes_seen == 0 for _, m in sample.clear])
    shaded_unseen = np.mean([m.eyes_seen == 0 for m in sample.sunglasses if m.face_count])
    print(f"neither eye seen: clear {clear_unseen:.3f}, sunglasses {shaded_unseen:.3f}")
    assert clear_unseen <= 0.15  # 5% on all 224 clear photos; this sample is 24
    assert shaded_unseen >= 0.5


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
