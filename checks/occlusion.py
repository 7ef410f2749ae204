"""Occlusion measurements per face region, from the 5-point landmarks.

Regions are laid out in units of the inter-eye distance ``d`` along the face's
own axes (the eye line and its perpendicular through the nose), so they follow
a tilted head and do not depend on resolution:

- eyes: a box around each eye centre;
- mouth and nose: from just above the nose tip down to the chin;
- forehead: a band above the eyes;
- skin references: the brow between the eyes and each temple beside the eyes,
  where a mask does not reach.

Mouth and nose: a mask or a hand replaces the face's own skin there. The
skin's chroma (YCrCb) is read from each skin reference, and the region reports
the share of its pixels within ``SKIN_CHROMA_RADIUS`` of it, the best over the
references (bangs may hide the brow, hair a temple). A reference whose chroma
is nearly neutral (grey, black hair, a greyscale photo) or outside the classic
skin range (a cap's brim, a lens) says nothing about skin and is not used;
with no usable reference the share is not measured.
The forehead share is measured the same way.

Head covering (attire): a hat, cap or scarf covers the band between the brows
and the hairline with something that is neither the face's skin (any usable
reference's chroma) nor hair (dark, or dim and nearly neutral). The band's
share of such pixels is the head cover share. A black cap reads as hair, so
this measure finds coloured and light coverings only.

Eyes: lenses cover the skin around the eyes as well, so the eye boxes hold
almost no pixel of the skin's chroma (the eye skin share, read against the
reference that best matches the lower face). Sunglasses also make the eye
boxes darker than the skin (the eye-to-skin luma ratio, skin taken from the
face box in the classic YCrCb skin range, refined to this face's median
chroma), and they hide the eyes themselves: OpenCV's Haar eye detector
(shipped with OpenCV, BSD licence) runs on an upright copy of the upper face
at a fixed eye distance and reports how many of the two
landmark eyes it sees. Numbers only; the policy decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

OCCLUSION_VERSION = "occlusion-6"

# Chai & Ngan's skin chroma range (YCrCb): seeds the face's own skin estimate, and a skin
# reference must lie inside it.
_SEED_CR = (133, 173)
_SEED_CB = (77, 127)
_MIN_SEED_SHARE = 0.05
_CHROMA_TOLERANCE_SIGMAS = 2.5
_MIN_CHROMA_TOLERANCE = 6.0
_MIN_LUMA = 35  # darker pixels carry no reliable chroma
_MIN_SHARE_IN_PHOTO = 0.3  # a region less inside the photo than this is not measured

# A pixel has the reference skin's colour when its (Cr, Cb) lies within this
# distance of the reference's median. Skin within one face spreads about this
# much; on ../shared/faces it separates masks from skin better than 5 or 12.
SKIN_CHROMA_RADIUS = 8.0
# A reference is skin only when its median chroma is at least this far from
# neutral grey (128, 128); skin in colour photos lies 9 to 48 away.
MIN_REFERENCE_SATURATION = 8.0

# Hair, for the head cover share: darker than this luma, or dimmer than
# _HAIR_DIM_LUMA with chroma within _HAIR_MAX_CHROMA of neutral grey.
_HAIR_DARK_LUMA = 70
_HAIR_DIM_LUMA = 110
_HAIR_MAX_CHROMA = 20.0

# Eye visibility: the upper face is resampled so the eyes are this many px apart.
_EYE_CROP_DISTANCE_PX = 64
_EYE_HIT_RADIUS = 0.25  # a detection counts for an eye whose centre is this close (in d)


@dataclass(frozen=True)
class OcclusionMeasurement:
    mouth_nose_skin_share: float | None  # 0..1; None when no skin reference is usable
    forehead_skin_share: float | None  # 0..1; None likewise
    eye_skin_share: float | None  # 0..1, mean over both eye boxes; None likewise
    eye_skin_luma_ratio: float  # mean luma of the eye boxes / mean luma of the face's skin
    eyes_seen: int  # 0, 1 or 2: landmark eyes that the eye detector confirms
    head_cover_share: float | None = None  # 0..1 of the band above the brows; None when not measurable


Point = tuple[float, float]


def _box(
    center: npt.NDArray[np.float64],
    axis_x: npt.NDArray[np.float64],
    axis_y: npt.NDArray[np.float64],
    half_w: float,
    half_h: float,
) -> npt.NDArray[np.float32]:
    corners = [center + sx * half_w * axis_x + sy * half_h * axis_y for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return np.asarray(corners, dtype=np.float32)


def _mask(shape: tuple[int, int], polygon: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    canvas = np.zeros(shape, dtype=np.uint8)
    cv2.fillConvexPoly(canvas, np.round(polygon).astype(np.int32), 1)
    return canvas.astype(bool)


@lru_cache(maxsize=1)
def _eye_cascade() -> Any:
    path = cv2.data.haarcascades + "haarcascade_eye.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV eye detector could not be loaded from {path}")
    return cascade


def count_visible_eyes(grey: npt.NDArray[np.uint8], eye_a: Point, eye_b: Point) -> int:
    """How many of the two landmark eyes OpenCV's eye detector confirms."""
    a, b = sorted((np.asarray(eye_a, dtype=np.float64), np.asarray(eye_b, dtype=np.float64)), key=lambda p: p[0])
    d = float(np.linalg.norm(b - a))
    if d < 1:
        return 0
    D = _EYE_CROP_DISTANCE_PX
    # The upper face upright, eyes at (1.5 D, 1.2 D) and (2.5 D, 1.2 D). The context
    # matters: histogram equalisation over a tighter strip hides more clear eyes.
    angle = float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))
    mid = (a + b) / 2.0
    rot = cv2.getRotationMatrix2D((float(mid[0]), float(mid[1])), angle, D / d)
    rot[0, 2] += 2 * D - mid[0]
    rot[1, 2] += 1.2 * D - mid[1]
    size = (4 * D, int(2.4 * D))
    crop = cv2.warpAffine(grey, rot, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    crop = cv2.equalizeHist(crop)
    smallest, largest = int(0.3 * D), int(0.9 * D)
    found = _eye_cascade().detectMultiScale(
        crop, scaleFactor=1.05, minNeighbors=3, minSize=(smallest, smallest), maxSize=(largest, largest)
    )
    seen = 0
    for ex in (1.5 * D, 2.5 * D):
        if any(np.hypot(x + w / 2 - ex, y + h / 2 - 1.2 * D) < _EYE_HIT_RADIUS * D for x, y, w, h in found):
            seen += 1
    return seen


def measure_occlusion(
    rgb: npt.NDArray[np.uint8],
    right_eye: Point,
    left_eye: Point,
    nose_tip: Point,
    inside: tuple[int, int, int, int] | None = None,
) -> OcclusionMeasurement:
    """Measure the face whose landmarks are given, in ``rgb``'s pixel frame.

    ``inside`` (left, top, right, bottom) is the part of ``rgb`` that shows the
    photo itself when the rest is padding: only that part is measured, and a
    region less than ``_MIN_SHARE_IN_PHOTO`` inside the photo (a tight crop
    that ends at the nose) is not measured at all.
    """
    er, el, nose = (np.asarray(p, dtype=np.float64) for p in (right_eye, left_eye, nose_tip))
    d = float(np.linalg.norm(el - er))
    if d < 4:
        raise ValueError("eyes too close together to lay out face regions")
    axis_x = (el - er) / d
    axis_y = np.array([-axis_x[1], axis_x[0]])
    mid = (er + el) / 2.0
    if float(np.dot(nose - mid, axis_y)) < 0:
        axis_y = -axis_y  # "down" points from the eyes towards the nose
    h, w = rgb.shape[:2]
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    luma, cr, cb = ycc[..., 0].astype(np.float32), ycc[..., 1].astype(np.float32), ycc[..., 2].astype(np.float32)
    in_photo = np.ones((h, w), dtype=bool)
    if inside is not None:
        in_photo[:] = False
        in_photo[max(0, inside[1]) : inside[3], max(0, inside[0]) : inside[2]] = True
    lit = (luma >= _MIN_LUMA) & in_photo

    face = _mask((h, w), _box(mid + 0.45 * d * axis_y, axis_x, axis_y, 1.0 * d, 1.25 * d))
    mouth_nose = _mask((h, w), _box(nose + 0.45 * d * axis_y, axis_x, axis_y, 0.5 * d, 0.55 * d))
    forehead = _mask((h, w), _box(mid - 0.6 * d * axis_y, axis_x, axis_y, 0.6 * d, 0.2 * d))
    head_band = _mask((h, w), _box(mid - 0.85 * d * axis_y, axis_x, axis_y, 0.7 * d, 0.25 * d))
    eye_r = _mask((h, w), _box(er, axis_x, axis_y, 0.28 * d, 0.16 * d))
    eye_l = _mask((h, w), _box(el, axis_x, axis_y, 0.28 * d, 0.16 * d))
    eyes = eye_r | eye_l
    measurable_mouth = _share(in_photo, mouth_nose) >= _MIN_SHARE_IN_PHOTO
    measurable_forehead = _share(in_photo, forehead) >= _MIN_SHARE_IN_PHOTO
    measurable_head = _share(in_photo, head_band) >= _MIN_SHARE_IN_PHOTO
    mouth_nose, forehead, head_band, eye_r, eye_l, eyes, face = (
        region & in_photo for region in (mouth_nose, forehead, head_band, eye_r, eye_l, eyes, face)
    )
    references = (
        _box(mid - 0.35 * d * axis_y, axis_x, axis_y, 0.25 * d, 0.15 * d),  # brow between the eyes
        _box(er - 0.6 * d * axis_x + 0.1 * d * axis_y, axis_x, axis_y, 0.12 * d, 0.2 * d),  # temples
        _box(el + 0.6 * d * axis_x + 0.1 * d * axis_y, axis_x, axis_y, 0.12 * d, 0.2 * d),
    )
    # Per usable reference: the mouth-and-nose, forehead and eye skin shares.
    readings: list[tuple[float, float, float]] = []
    any_skin = np.zeros((h, w), dtype=bool)  # the chroma of any usable reference
    for polygon in references:
        area = _mask((h, w), polygon)
        ref = area & lit  # lit pixels inside the photo
        if ref.sum() < 5 or ref.sum() < 0.5 * area.sum():
            continue
        ref_cr, ref_cb = float(np.median(cr[ref])), float(np.median(cb[ref]))
        if np.hypot(ref_cr - 128.0, ref_cb - 128.0) < MIN_REFERENCE_SATURATION:
            continue
        if not (_SEED_CR[0] <= ref_cr <= _SEED_CR[1] and _SEED_CB[0] <= ref_cb <= _SEED_CB[1]):
            continue  # a cap, dark hair or a lens over the reference, not skin
        skin_like = lit & (np.hypot(cr - ref_cr, cb - ref_cb) <= SKIN_CHROMA_RADIUS)
        any_skin |= skin_like
        eye_share = (_share(skin_like, eye_r) + _share(skin_like, eye_l)) / 2.0
        readings.append((_share(skin_like, mouth_nose), _share(skin_like, forehead), eye_share))
    mouth_nose_share = forehead_share = eye_skin_share = head_cover_share = None
    if readings and measurable_head and head_band.any():
        chroma = np.hypot(cr - 128.0, cb - 128.0)
        hair = (luma < _HAIR_DARK_LUMA) | ((luma < _HAIR_DIM_LUMA) & (chroma <= _HAIR_MAX_CHROMA) & ~any_skin)
        head_cover_share = _share(~any_skin & ~hair, head_band)
    if readings:
        # Each region takes the reference that matches it best; the eyes are read
        # against the reference that best matches the lower face's skin.
        best_lower = max(readings, key=lambda r: r[0])
        mouth_nose_share, eye_skin_share = best_lower[0], best_lower[2]
        forehead_share = max(r[1] for r in readings)
    if not measurable_mouth:
        mouth_nose_share = None
    if not measurable_forehead:
        forehead_share = None
    skin_luma = _face_skin_luma(luma, cr, cb, face & lit, face)
    eye_luma = float(luma[eyes].mean()) if eyes.any() else skin_luma
    grey = np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    return OcclusionMeasurement(
        mouth_nose_skin_share=mouth_nose_share,
        forehead_skin_share=forehead_share,
        eye_skin_share=eye_skin_share,
        eye_skin_luma_ratio=eye_luma / max(skin_luma, 1.0),
        eyes_seen=count_visible_eyes(grey, right_eye, left_eye),
        head_cover_share=head_cover_share,
    )


def _share(pixels: npt.NDArray[np.bool_], region: npt.NDArray[np.bool_]) -> float:
    n = int(region.sum())
    return float((pixels & region).sum()) / n if n else 0.0


def _face_skin_luma(
    luma: npt.NDArray[np.float32],
    cr: npt.NDArray[np.float32],
    cb: npt.NDArray[np.float32],
    face_lit: npt.NDArray[np.bool_],
    face: npt.NDArray[np.bool_],
) -> float:
    """Mean luma of the face box's skin: seeded by the classic skin range, refined to this face's chroma."""
    seed = face_lit & (cr >= _SEED_CR[0]) & (cr <= _SEED_CR[1]) & (cb >= _SEED_CB[0]) & (cb <= _SEED_CB[1])
    if float(seed.sum()) / max(1, int(face.sum())) >= _MIN_SEED_SHARE:
        ref_cr, ref_cb = float(np.median(cr[seed])), float(np.median(cb[seed]))
        tol_cr = max(_MIN_CHROMA_TOLERANCE, _CHROMA_TOLERANCE_SIGMAS * float(np.std(cr[seed])))
        tol_cb = max(_MIN_CHROMA_TOLERANCE, _CHROMA_TOLERANCE_SIGMAS * float(np.std(cb[seed])))
    else:
        ref_cr, ref_cb = sum(_SEED_CR) / 2, sum(_SEED_CB) / 2
        tol_cr, tol_cb = (_SEED_CR[1] - _SEED_CR[0]) / 2, (_SEED_CB[1] - _SEED_CB[0]) / 2
    skin = face_lit & (np.abs(cr - ref_cr) <= tol_cr) & (np.abs(cb - ref_cb) <= tol_cb)
    if skin.any():
        return float(luma[skin].mean())
    return float(luma[face].mean()) if face.any() else 1.0
