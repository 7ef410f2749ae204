"""Face detection, sharpness and exposure measured on real photographs.

The photos are read in place from the face set (``REALNAME_FACES_DIR``, by
default ``<repo>/../shared/faces``); nothing is copied. Blurred, darkened and
overexposed variants are derived in memory from clear photos on which a face
was found, and are judged under the shipped default policy.

To keep the run short (about a minute and a half on two cores), a
deterministic sample of the clear photos is used and all measurements are made
once per module. Photos larger than ``VARIANT_MAX_SIDE_PX`` are shrunk before
the variants are made (a Gaussian blur on a 14-megapixel photo with a sigma of
80 px costs seconds); the face-found rate itself is measured on the photos as
stored. Rates are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from checks import quality
from checks.face import decode_feature
from checks.idcard import measure_id_number
from checks.judge import PhotoInput, SubjectInput, judge
from checks.photo import PhotoMeasurement, measure_photo
from checks.policy import Policy
from scanner.photos import decode_photo, read_photo

pytestmark = pytest.mark.faces

SAMPLE_SIZE = 60
VARIANT_MAX_SIDE_PX = 1024
BLUR_SIGMA_OF_FACE_WIDTH = 0.06
DARKEN_FACTOR = 0.2
BRIGHTEN_ADD = 150
TODAY = dt.date(2026, 6, 1)
EXPOSURE_AND_CLARITY = {"BLURRY", "TOO_DARK", "TOO_BRIGHT"}

RGB = npt.NDArray[np.uint8]


def _manifest(root: Path) -> list[dict[str, str]]:
    with (root / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _clear_files(rows: list[dict[str, str]]) -> list[str]:
    return sorted(
        r["file"]
        for r in rows
        if r["file"].startswith(("identities/", "occlusion/no_mask/")) and r["attributes"] == "clear"
    )


def _sample(files: list[str], n: int) -> list[str]:
    """Evenly spaced over the sorted list: every identity group and both folders are represented."""
    if len(files) <= n:
        return files
    picks = np.linspace(0, len(files) - 1, n).round().astype(int)
    return [files[i] for i in sorted(set(picks.tolist()))]


def _shrink(rgb: RGB, max_side: int) -> RGB:
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    scale = max_side / float(max(h, w))
    return np.ascontiguousarray(cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA))


def blurred(rgb: RGB, face_width_px: float) -> RGB:
    sigma = BLUR_SIGMA_OF_FACE_WIDTH * face_width_px
    return np.ascontiguousarray(cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma, sigmaY=sigma))


def darkened(rgb: RGB) -> RGB:
    return np.clip(np.rint(rgb.astype(np.float32) * DARKEN_FACTOR), 0, 255).astype(np.uint8)


def overexposed(rgb: RGB) -> RGB:
    return np.clip(rgb.astype(np.int16) + BRIGHTEN_ADD, 0, 255).astype(np.uint8)


@dataclass
class Variants:
    file: str
    original: PhotoMeasurement  # the photo as stored
    base: PhotoMeasurement | None = None  # the (possibly shrunk) copy the variants are made from
    blur_region_sharpness: tuple[float, float] | None = None  # (base, blurred) on the same face box
    blurred: PhotoMeasurement | None = None
    darkened: PhotoMeasurement | None = None
    overexposed: PhotoMeasurement | None = None


@dataclass
class FaceSetResults:
    clear: list[Variants]
    no_face: dict[str, PhotoMeasurement]


def _region(rgb: RGB, box: tuple[float, float, float, float]) -> npt.NDArray[np.uint8]:
    h, w = rgb.shape[:2]
    left, top = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    right, bottom = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    return quality.to_grey(np.ascontiguousarray(rgb[top:bottom, left:right]))


@pytest.fixture(scope="module")
def results(faces_dir: Path) -> FaceSetResults:
    rows = _manifest(faces_dir)
    sample = _sample(_clear_files(rows), SAMPLE_SIZE)
    no_face_files = sorted(r["file"] for r in rows if r["file"].startswith("no_face/"))
    assert len(sample) >= 50, f"expected at least 50 clear photos in the face set, found {len(sample)}"

    decoded = [decode_photo(read_photo(str(faces_dir / f))) for f in sample]
    no_face_decoded = [decode_photo(read_photo(str(faces_dir / f))) for f in no_face_files]
    bases = [_shrink(rgb, VARIANT_MAX_SIDE_PX) for rgb in decoded]
    shrunk = [i for i, (rgb, base) in enumerate(zip(decoded, bases, strict=True)) if base is not rgb]

    first = [measure_photo(rgb) for rgb in (*decoded, *no_face_decoded, *(bases[i] for i in shrunk))]
    originals = first[: len(decoded)]
    no_face = dict(zip(no_face_files, first[len(decoded) : len(decoded) + len(no_face_decoded)], strict=True))
    base_m = list(originals)
    for i, m in zip(shrunk, first[len(decoded) + len(no_face_decoded) :], strict=True):
        base_m[i] = m

    clear = [Variants(file=f, original=m) for f, m in zip(sample, originals, strict=True)]
    for v, base, b in zip(clear, bases, base_m, strict=True):
        if b.face_count == 0 or b.face_width_px is None or b.face_box is None or b.sharpness is None:
            continue
        v.base = b
        blur = blurred(base, b.face_width_px)
        v.blur_region_sharpness = (b.sharpness, quality.sharpness(_region(blur, b.face_box)))
        v.blurred = measure_photo(blur)
        v.darkened = measure_photo(darkened(base))
        v.overexposed = measure_photo(overexposed(base))
    return FaceSetResults(clear=clear, no_face=no_face)


def live_codes(m: PhotoMeasurement, policy: Policy) -> set[str]:
    """Reason codes the judge gives a live photo with this measurement."""
    subject = SubjectInput(
        id_number=measure_id_number("11010519491231002X"),
        id_expires_on=None,
        photos={"live": PhotoInput(kind="live", measurement=m)},
    )
    return {r.code.value for r in judge(subject, policy, TODAY).reasons if r.photo_kind == "live"}


def rate(hits: int, total: int) -> float:
    assert total > 0, "nothing to measure"
    return hits / total


def _with_face(results: FaceSetResults) -> list[Variants]:
    out = [v for v in results.clear if v.base is not None]
    assert len(out) >= 40, f"too few clear photos with a face to derive variants from: {len(out)}"
    return out


def test_face_found_on_clear_photos(results: FaceSetResults) -> None:
    found = sum(v.original.face_count > 0 for v in results.clear)
    measured = rate(found, len(results.clear))
    missed = [v.file for v in results.clear if v.original.face_count == 0]
    print(f"\nface found on {found}/{len(results.clear)} clear photos = {measured:.3f}; missed: {missed}")
    assert measured >= 0.90


def test_no_face_photos_have_no_face(results: FaceSetResults) -> None:
    zero = [f for f, m in results.no_face.items() if m.face_count == 0]
    print(f"\nface_count 0 on {len(zero)}/{len(results.no_face)} no_face photos")
    assert len(results.no_face) == 9
    assert len(zero) >= 6, {f: m.face_count for f, m in results.no_face.items()}
    for m in results.no_face.values():
        if m.face_count == 0:
            # Exposure of the whole photo is still measured; face-only measures are absent.
            assert m.mean_luma is not None and 0 <= m.mean_luma <= 255
            assert m.sharpness is None and m.descriptor is None and m.face_box is None


def test_clear_photos_measurements_are_consistent(results: FaceSetResults) -> None:
    for v in _with_face(results):
        m = v.base
        assert m is not None and m.face_box is not None and m.face_width_px is not None
        left, top, right, bottom = m.face_box
        assert right > left and bottom > top
        assert m.face_width_px == pytest.approx(right - left)
        assert m.inter_eye_px is not None and 0 < m.inter_eye_px < m.face_width_px
        assert m.sface_feature is not None and len(decode_feature(m.sface_feature)) == 128
        assert m.dark_share is not None and 0 <= m.dark_share <= 1
        assert m.bright_share is not None and 0 <= m.bright_share <= 1


def test_clear_photos_rarely_flagged_for_quality(results: FaceSetResults, default_policy: Policy) -> None:
    photos = _with_face(results)
    flagged = [v.file for v in photos if live_codes(v.base, default_policy) & EXPOSURE_AND_CLARITY]  # type: ignore[arg-type]
    measured = rate(len(flagged), len(photos))
    print(f"\nclear photos flagged BLURRY/TOO_DARK/TOO_BRIGHT: {len(flagged)}/{len(photos)} = {measured:.3f} {flagged}")
    assert measured <= 0.05


def test_blur_lowers_sharpness(results: FaceSetResults) -> None:
    photos = _with_face(results)
    pairs = [v.blur_region_sharpness for v in photos if v.blur_region_sharpness is not None]
    dropped = sum(after < before for before, after in pairs)
    measured = rate(dropped, len(pairs))
    print(f"\nsharpness of the same face region dropped after blur on {dropped}/{len(pairs)} = {measured:.3f}")
    assert measured >= 0.95
    # Where the face is found again, the pipeline's own sharpness figure drops too.
    refound = [v for v in photos if v.blurred is not None and v.blurred.sharpness is not None]
    assert refound, "the face was not found again on any blurred photo"
    assert rate(sum(v.blurred.sharpness < v.base.sharpness for v in refound), len(refound)) >= 0.95  # type: ignore[operator,union-attr]


def test_blurred_photos_flagged_blurry(results: FaceSetResults, default_policy: Policy) -> None:
    photos = _with_face(results)
    threshold = default_policy.checks.clarity.min_sharpness
    codes = [live_codes(v.blurred, default_policy) for v in photos]  # type: ignore[arg-type]
    blurry = sum("BLURRY" in c for c in codes)
    no_face = sum("NO_FACE" in c for c in codes)
    refound = [v.blurred for v in photos if v.blurred is not None and v.blurred.face_count > 0]
    refound_blurry = sum("BLURRY" in live_codes(m, default_policy) for m in refound)
    sharp = [m.sharpness for m in refound if m.sharpness is not None]
    region_after = [v.blur_region_sharpness[1] for v in photos if v.blur_region_sharpness is not None]
    pct = (5, 25, 50, 75, 95, 100)
    summary = (
        f"BLURRY on {blurry}/{len(photos)} = {blurry / len(photos):.3f} blurred photos "
        f"(face not found again: {no_face}); "
        f"BLURRY where the face was found again: {refound_blurry}/{len(refound)}; "
        f"min_sharpness {threshold}; sharpness percentiles {pct} of re-found blurred faces: "
        f"{np.percentile(sharp, pct).round(1).tolist() if sharp else []}; "
        f"of the blurred original face regions: {np.percentile(region_after, pct).round(1).tolist()}"
    )
    print("\n" + summary)
    # No blurred photo passes the photo checks: it is either BLURRY or has no face.
    assert rate(sum(bool(c) for c in codes), len(codes)) >= 0.95
    # Where a face is still found, the default threshold catches the blur.
    assert rate(refound_blurry, len(refound)) >= 0.90
    # Where it is not, the whole photo's sharpness often says why. The set-wide
    # figure (the calibration target is 95%) is in BENCHMARKS.md.
    assert rate(blurry, len(photos)) >= 0.80


def test_darkened_photos_flagged_too_dark(results: FaceSetResults, default_policy: Policy) -> None:
    photos = _with_face(results)
    codes = [live_codes(v.darkened, default_policy) for v in photos]  # type: ignore[arg-type]
    dark = sum("TOO_DARK" in c for c in codes)
    refound = [c for v, c in zip(photos, codes, strict=True) if v.darkened is not None and v.darkened.face_count > 0]
    lumas = [v.darkened.mean_luma for v in photos if v.darkened is not None and v.darkened.mean_luma is not None]
    summary = (
        f"TOO_DARK on {dark}/{len(photos)} = {dark / len(photos):.3f} darkened (x{DARKEN_FACTOR}) photos; "
        f"face found again on {len(refound)}, TOO_DARK among those {sum('TOO_DARK' in c for c in refound)}; "
        f"the rest get NO_FACE only; max mean luma measured {max(lumas):.1f}"
    )
    print("\n" + summary)
    assert rate(sum(bool(c) for c in codes), len(codes)) >= 0.95
    assert rate(sum("TOO_DARK" in c for c in refound), len(refound)) >= 0.95
    assert dark / len(photos) >= 0.95


def test_overexposed_photos_flagged_too_bright(results: FaceSetResults, default_policy: Policy) -> None:
    photos = _with_face(results)
    codes = [live_codes(v.overexposed, default_policy) for v in photos]  # type: ignore[arg-type]
    bright = sum("TOO_BRIGHT" in c for c in codes)
    refound = [c for v, c in zip(photos, codes, strict=True) if v.overexposed is not None and v.overexposed.face_count]
    summary = (
        f"TOO_BRIGHT on {bright}/{len(photos)} = {bright / len(photos):.3f} overexposed (+{BRIGHTEN_ADD}) photos; "
        f"face found again on {len(refound)}, TOO_BRIGHT among those {sum('TOO_BRIGHT' in c for c in refound)}; "
        "the rest get NO_FACE only"
    )
    print("\n" + summary)
    assert rate(sum(bool(c) for c in codes), len(codes)) >= 0.95
    assert rate(sum("TOO_BRIGHT" in c for c in refound), len(refound)) >= 0.95
    assert bright / len(photos) >= 0.95
