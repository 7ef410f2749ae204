"""Occlusion measurements per face region, from the 5-point landmarks.

The face is first resampled upright, with the eyes level and ``FACE_UNIT_PX``
apart (the inter-eye distance ``d`` becomes a fixed number of pixels), so every
region below is a fixed box of that small image whatever the photo's
resolution, and a tilted head reads like an upright one. Colour is read from
that resampled image, whose pixels average the larger original ones. The eyes,
whose boxes are small, are read on a second upright copy of the upper face
only (the eye strip), with the eyes ``_EYE_CROP_DISTANCE_PX`` apart: about
the face crop's own scale.

Regions, in units of ``d`` from the mid-point of the eyes (x right, y down):

- eyes: a box around each eye centre;
- mouth and nose: from just above the nose tip down to the chin;
- forehead: a band above the eyes;
- head band: between the brows and the hairline, as wide as the head;
- skin references: the brow between the eyes and each temple beside the eyes,
  where a mask does not reach.

Mouth and nose: a mask or a hand replaces the face's own skin there. Each
skin reference gives the skin's chroma (YCrCb, median), and the region reports
the share of its pixels within ``SKIN_CHROMA_RADIUS`` of it: the best over the
references (bangs may hide the brow, hair a temple). The lips are redder
(higher Cr - Cb) than the skin around them, whatever the skin's tone, and a
mask (white, blue, black) is less red than the skin: the mouth redness is the
redness of the mouth box's reddest tenth over the skin references' median,
which stays above zero on clear faces and falls well below it under a mask
whose colour the skin share misses. A reference whose chroma
is nearly neutral (grey, black hair, a greyscale photo) or outside the classic
skin range (a cap's brim, a lens) says nothing about skin and is not used; with
no usable reference the share is not measured. The forehead share is measured
the same way.

Head covering (attire): a hat, cap or scarf covers the band between the brows
and the hairline with something that is neither the face's skin (any usable
reference's chroma) nor hair (dark, or dim and nearly neutral). The band's
share of such pixels is the head cover share. The band is as wide as the
forehead, so a bright background beside the head does not count. A black cap
reads as hair, so this measure finds coloured and light coverings only.

Eyes: lenses cover the skin around the eyes as well, so the eye boxes hold
almost no pixel of the skin's chroma (the eye skin share, read against the
reference that best matches the lower face). Sunglasses also make the eye
boxes darker than the skin (the eye-to-skin luma ratio, skin taken from the
face box in the classic YCrCb skin range, refined to this face's median
chroma), and they hide the eyes themselves: OpenCV's Haar eye detector
(shipped with OpenCV, BSD licence) looks for each eye in a window around its
landmark on the eye strip (equalised whole: searching the windows only costs a
third of searching the strip), and reports how many of the two landmark eyes
it sees. Numbers only; the policy
decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

OCCLUSION_VERSION = "occlusion-7"

# The upright face: eyes FACE_UNIT_PX apart, at (1.5, 2.0) and (2.5, 2.0) units
# of a 4 x 5 unit image (2 units above the eyes for the head, 3 below).
FACE_UNIT_PX = 32
_FACE_W, _FACE_H, _EYE_ROW = 4.0, 5.0, 2.0
# A face whose eyes are more than _MAX_SHRINK units apart is shrunk by area before
# it is resampled upright. Faces in the face crop (eyes 30 to 74 px apart on
# ../shared/faces) never are.
_MAX_SHRINK = 2.5
_SHRINK_TO = 2.0  # units apart after shrinking, well inside the bound

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
# (Widening it to 3 times the reference's own spread lost 10 of 85 masks.)
SKIN_CHROMA_RADIUS = 8.0
# A reference is skin only when its median chroma is at least this far from
# neutral grey (128, 128); skin in colour photos lies 9 to 48 away.
MIN_REFERENCE_SATURATION = 8.0

# Lips are redder (higher Cr - Cb) than the skin around them, whatever the skin's
# tone; a mask is less red than the skin. The mouth box's redness is that of its
# reddest MOUTH_RED_PERCENT of pixels (the lips fill about a fifth of the box).
MOUTH_RED_PERCENT = 10

# Hair, for the head cover share: darker than this luma, or dimmer than
# _HAIR_DIM_LUMA with chroma within _HAIR_MAX_CHROMA of neutral grey.
_HAIR_DARK_LUMA = 70
_HAIR_DIM_LUMA = 110
_HAIR_MAX_CHROMA = 20.0

# Eye visibility: the upper face is resampled so the eyes are this many px apart,
# and each eye is looked for in a window of 1.5 x 1.3 d around its landmark.
_EYE_CROP_DISTANCE_PX = 56
# The eye strip: 4 x 2.4 d, the eyes at (1.5, 1.2) and (2.5, 1.2) d.
_EYE_STRIP_H, _EYE_STRIP_ROW, _EYE_STRIP_EYES_X = 2.4, 1.2, (1.5, 2.5)
_EYE_HIT_RADIUS = 0.25  # a detection counts for an eye whose centre is this close (in d)


@dataclass(frozen=True)
class OcclusionMeasurement:
    mouth_nose_skin_share: float | None  # 0..1; None when no skin reference is usable
    forehead_skin_share: float | None  # 0..1; None likewise
    eye_skin_share: float | None  # 0..1, mean over both eye boxes; None likewise
    eye_skin_luma_ratio: float  # mean luma of the eye boxes / mean luma of the face's skin
    eyes_seen: int  # 0, 1 or 2: landmark eyes that the eye detector confirms
    head_cover_share: float | None = None  # 0..1 of the band above the brows; None when not measurable
    # Redness (Cr - Cb) of the mouth box's reddest tenth over the skin references'; None likewise
    mouth_redness: float | None = None


Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in units of d from the mid-point of the eyes


@lru_cache(maxsize=1)
def _eye_cascade() -> Any:
    path = cv2.data.haarcascades + "haarcascade_eye.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV eye detector could not be loaded from {path}")
    return cascade


def _upright(
    eye_a: Point, eye_b: Point, nose: Point, unit_px: int, width_units: float, eye_row: float
) -> npt.NDArray[np.float64] | None:
    """The affine map that puts the eyes level, ``unit_px`` apart, their mid-point at
    (``width_units`` / 2, ``eye_row``) units, and the nose below them (a face upside
    down in the photo is turned round)."""
    a, b = (np.asarray(p, dtype=np.float64) for p in (eye_a, eye_b))
    d = float(np.linalg.norm(b - a))
    if d < 1:
        return None
    mid = (a + b) / 2.0
    across = b - a
    # The nose lies on the side of the eye line that becomes "down" (+y) once b is to the right of a.
    if across[0] * (nose[1] - mid[1]) - across[1] * (nose[0] - mid[0]) < 0:
        a, b = b, a
    angle = float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))
    rot = cv2.getRotationMatrix2D((float(mid[0]), float(mid[1])), angle, unit_px / d)
    rot[0, 2] += width_units / 2.0 * unit_px - mid[0]
    rot[1, 2] += eye_row * unit_px - mid[1]
    return np.asarray(rot, dtype=np.float64)


def _warp(image: npt.NDArray[Any], rot: npt.NDArray[np.float64], width: int, height: int, nearest: bool = False) -> Any:
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.warpAffine(image, rot, (width, height), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def _eyes_seen(strip: npt.NDArray[np.uint8]) -> int:
    """How many of the two landmark eyes OpenCV's eye detector confirms on the grey eye strip."""
    D = _EYE_CROP_DISTANCE_PX
    # The upper face upright, eyes at (1.5 D, 1.2 D) and (2.5 D, 1.2 D). The context
    # matters: histogram equalisation over a tighter strip hides more clear eyes,
    # so the strip is equalised whole and only a window around each eye is searched.
    crop = cv2.equalizeHist(strip)
    smallest, largest = int(0.3 * D), int(0.9 * D)
    seen = 0
    for ex in _EYE_STRIP_EYES_X:
        x0, y0 = int((ex - 0.75) * D), int((_EYE_STRIP_ROW - 0.65) * D)
        window = crop[y0 : int((_EYE_STRIP_ROW + 0.65) * D), x0 : int((ex + 0.75) * D)]
        found = _eye_cascade().detectMultiScale(
            window, scaleFactor=1.05, minNeighbors=3, minSize=(smallest, smallest), maxSize=(largest, largest)
        )
        centre = (ex * D, _EYE_STRIP_ROW * D)
        if any(
            np.hypot(x0 + x + w / 2 - centre[0], y0 + y + h / 2 - centre[1]) < _EYE_HIT_RADIUS * D
            for x, y, w, h in found
        ):
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
    U = FACE_UNIT_PX
    if d > _MAX_SHRINK * U:
        # A large face (a whole photo rather than the face crop): shrink it by area first,
        # since the upright resampling interpolates and would skip most pixels.
        f = _SHRINK_TO * U / d
        small = np.asarray(cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        box = (
            None
            if inside is None
            else (
                math.floor(inside[0] * f),
                math.floor(inside[1] * f),
                math.ceil(inside[2] * f),
                math.ceil(inside[3] * f),
            )
        )
        return measure_occlusion(small, _scaled(right_eye, f), _scaled(left_eye, f), _scaled(nose_tip, f), box)
    width, height = int(_FACE_W * U), int(_FACE_H * U)
    rot = _upright(right_eye, left_eye, nose_tip, U, _FACE_W, _EYE_ROW)
    assert rot is not None
    up = np.asarray(_warp(rgb, rot, width, height), dtype=np.uint8)
    h, w = rgb.shape[:2]
    photo = np.zeros((h, w), dtype=np.uint8)
    left, top, right, bottom = inside if inside is not None else (0, 0, w, h)
    photo[max(0, top) : bottom, max(0, left) : right] = 1
    in_photo = cv2.warpAffine(photo, rot, (width, height), flags=cv2.INTER_NEAREST, borderValue=0).astype(bool)
    # Landmarks in the upright frame, in units of d from the mid-point of the eyes.
    nose_u = (rot @ np.array([nose[0], nose[1], 1.0])) / U - np.array([_FACE_W / 2.0, _EYE_ROW])
    nx, ny = float(nose_u[0]), float(nose_u[1])

    def region(cx: float, cy: float, half_w: float, half_h: float) -> npt.NDArray[np.bool_]:
        x0 = round((cx - half_w + _FACE_W / 2.0) * U)
        x1 = round((cx + half_w + _FACE_W / 2.0) * U)
        y0 = round((cy - half_h + _EYE_ROW) * U)
        y1 = round((cy + half_h + _EYE_ROW) * U)
        out = np.zeros((height, width), dtype=bool)
        out[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
        return out

    ycc = cv2.cvtColor(up, cv2.COLOR_RGB2YCrCb)
    luma, cr, cb = ycc[..., 0].astype(np.float32), ycc[..., 1].astype(np.float32), ycc[..., 2].astype(np.float32)
    lit = (luma >= _MIN_LUMA) & in_photo

    face = region(0.0, 0.45, 1.0, 1.25)
    mouth_nose = region(nx, ny + 0.45, 0.5, 0.55)
    forehead = region(0.0, -0.6, 0.6, 0.2)
    head_band = region(0.0, -0.85, 0.5, 0.25)
    measurable_mouth = _share(in_photo, mouth_nose) >= _MIN_SHARE_IN_PHOTO
    measurable_forehead = _share(in_photo, forehead) >= _MIN_SHARE_IN_PHOTO
    measurable_head = _share(in_photo, head_band) >= _MIN_SHARE_IN_PHOTO
    mouth_nose, forehead, head_band, face = (r & in_photo for r in (mouth_nose, forehead, head_band, face))
    references = (
        region(0.0, -0.35, 0.25, 0.15),  # brow between the eyes
        region(-1.1, 0.1, 0.12, 0.2),  # temples
        region(1.1, 0.1, 0.12, 0.2),
    )
    # Per usable reference: the mouth-and-nose and forehead skin shares, and the reference's chroma.
    readings: list[tuple[float, float, float, float]] = []  # mouth-nose and forehead shares, Cr, Cb
    skin_redness: list[float] = []  # per usable reference
    any_skin = np.zeros((height, width), dtype=bool)  # the chroma of any usable reference
    for area in references:
        ref = area & lit  # lit pixels inside the photo
        if ref.sum() < 5 or ref.sum() < 0.5 * area.sum():
            continue
        ref_cr, ref_cb = float(np.median(cr[ref])), float(np.median(cb[ref]))
        if np.hypot(ref_cr - 128.0, ref_cb - 128.0) < MIN_REFERENCE_SATURATION:
            continue
        if not (_SEED_CR[0] <= ref_cr <= _SEED_CR[1] and _SEED_CB[0] <= ref_cb <= _SEED_CB[1]):
            continue  # a cap, dark hair or a lens over the reference, not skin
        skin_like = lit & (np.hypot(cr - ref_cr, cb - ref_cb) <= SKIN_CHROMA_RADIUS)
        skin_redness.append(float(np.median(cr[ref] - cb[ref])))
        any_skin |= skin_like
        readings.append((_share(skin_like, mouth_nose), _share(skin_like, forehead), ref_cr, ref_cb))
    mouth_nose_share = forehead_share = eye_skin_share = head_cover_share = None
    if readings and measurable_head and head_band.any():
        chroma = np.hypot(cr - 128.0, cb - 128.0)
        hair = (luma < _HAIR_DARK_LUMA) | ((luma < _HAIR_DIM_LUMA) & (chroma <= _HAIR_MAX_CHROMA) & ~any_skin)
        head_cover_share = _share(~any_skin & ~hair, head_band)
    if readings:
        # Each region takes the reference that matches it best; the eyes are read
        # against the reference that best matches the lower face's skin.
        best_lower = max(readings, key=lambda r: r[0])
        mouth_nose_share = best_lower[0]
        forehead_share = max(r[1] for r in readings)
    mouth = region(nx, ny + 0.5, 0.4, 0.25) & lit
    mouth_redness = None
    if skin_redness and measurable_mouth and mouth.sum() >= 5:
        redness = cr[mouth] - cb[mouth]
        mouth_redness = float(np.percentile(redness, 100 - MOUTH_RED_PERCENT)) - float(np.median(skin_redness))
    if not measurable_mouth:
        mouth_nose_share = None
    if not measurable_forehead:
        forehead_share = None
    skin_luma = _face_skin_luma(luma, cr, cb, face & lit, face)
    # The eyes, on an upright strip at the face crop's own scale: an eye box is small.
    strip_rot = _upright(right_eye, left_eye, nose_tip, _EYE_CROP_DISTANCE_PX, 4.0, _EYE_STRIP_ROW)
    assert strip_rot is not None
    D = _EYE_CROP_DISTANCE_PX
    strip_size = (4 * D, int(_EYE_STRIP_H * D))
    strip = cv2.warpAffine(rgb, strip_rot, strip_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    strip_in_photo = np.asarray(
        cv2.warpAffine(photo, strip_rot, strip_size, flags=cv2.INTER_NEAREST, borderValue=0), dtype=bool
    )
    strip_ycc = cv2.cvtColor(strip, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    eye_boxes: list[npt.NDArray[np.bool_]] = []
    for ex in _EYE_STRIP_EYES_X:
        eye_box = np.zeros(strip_size[::-1], dtype=bool)
        eye_box[
            round((_EYE_STRIP_ROW - 0.16) * D) : round((_EYE_STRIP_ROW + 0.16) * D),
            round((ex - 0.28) * D) : round((ex + 0.28) * D),
        ] = True
        eye_boxes.append(eye_box & strip_in_photo)
    strip_eyes = eye_boxes[0] | eye_boxes[1]
    eye_luma = float(strip_ycc[..., 0][strip_eyes].mean()) if strip_eyes.any() else skin_luma
    if readings:
        # The eyes are read against the reference that best matches the lower face's skin.
        ref_cr, ref_cb = best_lower[2], best_lower[3]
        strip_lit = strip_ycc[..., 0] >= _MIN_LUMA
        skin_like = strip_lit & (np.hypot(strip_ycc[..., 1] - ref_cr, strip_ycc[..., 2] - ref_cb) <= SKIN_CHROMA_RADIUS)
        eye_skin_share = (_share(skin_like, eye_boxes[0]) + _share(skin_like, eye_boxes[1])) / 2.0
    return OcclusionMeasurement(
        mouth_nose_skin_share=mouth_nose_share,
        forehead_skin_share=forehead_share,
        eye_skin_share=eye_skin_share,
        eye_skin_luma_ratio=eye_luma / max(skin_luma, 1.0),
        eyes_seen=_eyes_seen(np.asarray(cv2.cvtColor(strip, cv2.COLOR_RGB2GRAY), dtype=np.uint8)),
        head_cover_share=head_cover_share,
        mouth_redness=mouth_redness,
    )


def _scaled(p: Point, factor: float) -> Point:
    return (p[0] * factor, p[1] * factor)


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
