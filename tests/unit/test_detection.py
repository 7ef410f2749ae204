"""Face finding on what operators store, measured on real photos and copies derived from them in code:
ID-card chip sized portraits, large phone photos, two people side by side, the crop that measurement uses."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from checks import face as face_adapter
from checks.face import decode_feature, face_cosine, face_distance
from checks.photo import FACE_CROP_PX, PhotoMeasurement, face_crop, find_faces, measure_photo
from scanner.photos import decode_photo, read_photo

pytestmark = pytest.mark.faces

RGB = npt.NDArray[np.uint8]
CHIP_SIZE = (102, 126)  # width, height of the portrait stored on a second-generation ID card's chip


def _files(faces: Path, prefix: str, attributes: str, every: int = 1) -> list[Path]:
    with (faces / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r["file"] for r in csv.DictReader(fh) if r["file"].startswith(prefix) and r["attributes"] == attributes]
    return [faces / f for f in sorted(rows)[::every]]


def _load(path: Path) -> RGB:
    return decode_photo(read_photo(str(path)))


def chip_portrait(rgb: RGB, m: PhotoMeasurement) -> RGB:
    """A tight head-and-shoulders crop around the measured face, resized to the chip's 102x126 px."""
    assert m.face_box is not None
    left, top, right, bottom = m.face_box
    w = right - left
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half_w, half_h = 0.75 * w, 0.75 * w * CHIP_SIZE[1] / CHIP_SIZE[0]
    x0, y0 = max(0, round(cx - half_w)), max(0, round(cy - half_h))
    x1, y1 = min(rgb.shape[1], round(cx + half_w)), min(rgb.shape[0], round(cy + half_h))
    return np.ascontiguousarray(cv2.resize(rgb[y0:y1, x0:x1], CHIP_SIZE, interpolation=cv2.INTER_AREA))


@pytest.fixture(scope="module")
def clear_photos(faces_dir: Path) -> list[tuple[RGB, PhotoMeasurement]]:
    photos = [_load(p) for p in _files(faces_dir, "identities/deepface_", "clear", every=2)]
    measured = [(rgb, measure_photo(rgb, dlib=True)) for rgb in photos]
    return [(rgb, m) for rgb, m in measured if m.face_count == 1]


def test_chip_sized_portraits_are_found_and_match_their_source(
    clear_photos: list[tuple[RGB, PhotoMeasurement]],
) -> None:
    assert len(clear_photos) >= 30
    found, distances, cosines = 0, [], []
    for rgb, m in clear_photos:
        chip = measure_photo(chip_portrait(rgb, m), dlib=True)
        if chip.face_count:
            found += 1
            assert chip.descriptor is not None and m.descriptor is not None
            distances.append(face_distance(chip.descriptor, m.descriptor))
            assert chip.sface_feature is not None and m.sface_feature is not None
            cosines.append(face_cosine(decode_feature(chip.sface_feature), decode_feature(m.sface_feature)))
    print(
        f"\nchip-sized portraits: face found {found}/{len(clear_photos)}; dlib distance to the source photo "
        f"median {np.median(distances):.3f}, p90 {np.percentile(distances, 90):.3f}; SFace cosine "
        f"median {np.median(cosines):.3f}, p10 {np.percentile(cosines, 10):.3f}"
    )
    assert found / len(clear_photos) >= 0.9
    # The same face at 102x126 px stays well inside dlib's match band (0.42).
    assert np.median(distances) <= 0.30
    # And far above SFace's match threshold (0.40): measured median 0.979, p10 0.969 on 31 faces.
    assert np.percentile(cosines, 10) >= 0.85


def test_large_photos_are_measured_at_full_resolution(faces_dir: Path) -> None:
    """A 1080p photo and the same photo at 240p: same face, same landmarks in the photo's own pixels."""
    big = _load(faces_dir / "clarity" / "obama_1080p.jpg")
    small = np.ascontiguousarray(cv2.resize(big, (427, 240), interpolation=cv2.INTER_AREA))
    mb, ms = measure_photo(big, dlib=True), measure_photo(small, dlib=True)
    assert mb.face_count == ms.face_count == 1
    assert mb.landmarks is not None and ms.landmarks is not None
    scale = big.shape[1] / small.shape[1]
    gap = np.abs(np.array(mb.landmarks) - np.array(ms.landmarks) * scale)
    assert gap.max() < 0.08 * mb.inter_eye_px  # type: ignore[operator]
    assert mb.inter_eye_px == pytest.approx(ms.inter_eye_px * scale, rel=0.08)  # type: ignore[operator]
    assert face_distance(mb.descriptor, ms.descriptor) < 0.25  # type: ignore[arg-type]
    # Sharpness is normalised to the face size, so the sharper 1080p face measures higher, not lower.
    assert mb.sharpness is not None and ms.sharpness is not None and mb.sharpness > ms.sharpness


def test_two_people_side_by_side_count_as_two(clear_photos: list[tuple[RGB, PhotoMeasurement]]) -> None:
    counted = []
    for (a, ma), (b, mb) in zip(clear_photos[::2], clear_photos[1::2], strict=False):
        # Both faces at the same width, side by side on one canvas.
        fa, fb = ma.face_width_px, mb.face_width_px
        assert fa and fb
        b = cv2.resize(b, None, fx=fa / fb, fy=fa / fb, interpolation=cv2.INTER_AREA)
        h = max(a.shape[0], b.shape[0])
        canvas = np.full((h, a.shape[1] + b.shape[1], 3), 255, dtype=np.uint8)
        canvas[: a.shape[0], : a.shape[1]] = a
        canvas[: b.shape[0], a.shape[1] :] = b
        counted.append(measure_photo(canvas).face_count)
    two = sum(c == 2 for c in counted)
    print(f"\npairs side by side: counted as two faces {two}/{len(counted)}; counts {counted}")
    assert two / len(counted) >= 0.8
    assert min(counted) >= 2  # never fewer than the two people on the canvas


def test_single_faces_are_not_counted_twice(clear_photos: list[tuple[RGB, PhotoMeasurement]]) -> None:
    for rgb, _m in clear_photos:
        work, boxes = find_faces(rgb)
        assert len(boxes) == 1
        assert work.pixels.shape[0] <= 640 and work.pixels.shape[1] <= 640


def test_face_crop_maps_between_frames(clear_photos: list[tuple[RGB, PhotoMeasurement]]) -> None:
    for rgb, m in clear_photos[:10]:
        assert m.face_box is not None
        box = face_adapter.FaceBox(*m.face_box, score=1.0)
        crop = face_crop(rgb, box)
        assert crop.pixels.shape == (FACE_CROP_PX, FACE_CROP_PX, 3)
        inside = crop.from_original(box)
        # The face sits in the middle of the crop at 1 / FACE_CROP_CONTEXT of its width.
        assert inside.left > 0 and inside.right < FACE_CROP_PX
        assert (inside.left + inside.right) / 2 == pytest.approx(FACE_CROP_PX / 2, abs=2)
        back = crop.point_to_original((inside.left, inside.top))
        assert back == pytest.approx((box.left, box.top), abs=0.5 / crop.scale + 1)


def test_face_crop_at_the_photo_edge_replicates_the_border() -> None:
    rgb = np.zeros((100, 100, 3), dtype=np.uint8)
    rgb[:, :50] = 200
    crop = face_crop(rgb, face_adapter.FaceBox(-10, -10, 30, 30, 1.0))
    assert crop.pixels.shape == (FACE_CROP_PX, FACE_CROP_PX, 3)
    assert int(crop.pixels[0, 0, 0]) == 200  # beyond the top-left corner: the corner pixel repeated
    with pytest.raises(ValueError, match="outside the photo"):
        face_crop(rgb, face_adapter.FaceBox(500, 500, 540, 540, 1.0))
