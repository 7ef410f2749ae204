"""Occlusion measurements per face region, from the 5-point landmarks.

Regions are laid out in units of the inter-eye distance ``d`` along the face's
own axes (the eye line and its perpendicular through the nose), so they follow
a tilted head and do not depend on resolution:

- eyes: a box around each eye centre;
- mouth and nose: from just above the nose tip down to the chin;
- forehead: a band above the eyes.

The face's own skin colour is estimated from the face box (pixels in the
classic YCrCb skin range, refined to this face's median chroma), and each
region reports the share of its pixels with that skin chroma. A mask or a hand
over the mouth leaves little skin there; a hat or scarf leaves little on the
forehead. Sunglasses make the eye regions far darker than the face's skin:
the eye-to-skin luma ratio measures that. Numbers only; the policy decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

OCCLUSION_VERSION = "occlusion-1"

# Chai & Ngan's skin chroma range (YCrCb), used only to seed the face's own estimate.
_SEED_CR = (133, 173)
_SEED_CB = (77, 127)
_MIN_SEED_SHARE = 0.05
_CHROMA_TOLERANCE_SIGMAS = 2.5
_MIN_CHROMA_TOLERANCE = 6.0
_MIN_LUMA = 35  # darker pixels carry no reliable chroma


@dataclass(frozen=True)
class OcclusionMeasurement:
    mouth_nose_skin_share: float  # 0..1
    forehead_skin_share: float  # 0..1
    eye_skin_luma_ratio: float  # mean luma of the eye boxes / mean luma of the face's skin
    skin_reference_share: float  # share of the face box used as the skin reference


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


def measure_occlusion(
    rgb: npt.NDArray[np.uint8], right_eye: Point, left_eye: Point, nose_tip: Point
) -> OcclusionMeasurement:
    """Measure the face whose landmarks are given, in ``rgb``'s pixel frame."""
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

    face = _mask((h, w), _box(mid + 0.45 * d * axis_y, axis_x, axis_y, 1.0 * d, 1.25 * d))
    mouth_nose = _mask((h, w), _box(nose + 0.45 * d * axis_y, axis_x, axis_y, 0.5 * d, 0.55 * d))
    forehead = _mask((h, w), _box(mid - 0.6 * d * axis_y, axis_x, axis_y, 0.6 * d, 0.2 * d))
    eyes = _mask((h, w), _box(er, axis_x, axis_y, 0.28 * d, 0.16 * d)) | _mask(
        (h, w), _box(el, axis_x, axis_y, 0.28 * d, 0.16 * d)
    )

    lit = luma >= _MIN_LUMA
    seed = face & lit & (cr >= _SEED_CR[0]) & (cr <= _SEED_CR[1]) & (cb >= _SEED_CB[0]) & (cb <= _SEED_CB[1])
    face_px = max(1, int(face.sum()))
    seed_share = float(seed.sum()) / face_px
    if seed_share >= _MIN_SEED_SHARE:
        ref_cr, ref_cb = float(np.median(cr[seed])), float(np.median(cb[seed]))
        tol_cr = max(_MIN_CHROMA_TOLERANCE, _CHROMA_TOLERANCE_SIGMAS * float(np.std(cr[seed])))
        tol_cb = max(_MIN_CHROMA_TOLERANCE, _CHROMA_TOLERANCE_SIGMAS * float(np.std(cb[seed])))
    else:
        ref_cr, ref_cb = sum(_SEED_CR) / 2, sum(_SEED_CB) / 2
        tol_cr, tol_cb = (_SEED_CR[1] - _SEED_CR[0]) / 2, (_SEED_CB[1] - _SEED_CB[0]) / 2
    skin = lit & (np.abs(cr - ref_cr) <= tol_cr) & (np.abs(cb - ref_cb) <= tol_cb)

    def share(region: npt.NDArray[np.bool_]) -> float:
        n = int(region.sum())
        return float((skin & region).sum()) / n if n else 0.0

    skin_face = skin & face
    skin_luma = float(luma[skin_face].mean()) if skin_face.any() else float(luma[face].mean()) if face.any() else 1.0
    eye_luma = float(luma[eyes].mean()) if eyes.any() else skin_luma
    return OcclusionMeasurement(
        mouth_nose_skin_share=share(mouth_nose),
        forehead_skin_share=share(forehead),
        eye_skin_luma_ratio=eye_luma / max(skin_luma, 1.0),
        skin_reference_share=seed_share,
    )
