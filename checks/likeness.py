"""Is one photo made from another? The aligned face's grey levels, compared pixel by pixel.

Two captures of one person, however alike, differ in pose, expression, light,
background and camera noise. A photo made from another (the same file, saved
again as JPEG, resized, cropped, brightened) keeps all of them. The face
recognizer cannot tell the two apart reliably: it is built to ignore exactly
those differences. So each face is aligned on its eye centres to a small grey
square (its *signature*), and two photos are compared by the correlation of
their squares: 1.0 for the same pixels, lower the more the scene differs.

The signature is stored with the photo's measurement (``SIGNATURE_PX`` squared
bytes, base64), so the comparison needs no photo at judging time.
"""

from __future__ import annotations

import base64
import math

import cv2
import numpy as np
import numpy.typing as npt

LIKENESS_VERSION = "likeness-1"
SIGNATURE_PX = 16
# The square is drawn at ALIGN_PX first (the eyes ALIGN_PX * EYE_SPAN apart), then averaged down, so
# a large face is not aliased and a small one is not sharpened.
_ALIGN_PX = 128
_EYE_SPAN = 0.50  # eye centres this share of the square apart, ...
_EYE_ROW = 0.35  # ... on this row: the square spans the brows to below the mouth


def face_signature(
    grey: npt.NDArray[np.uint8], right_eye: tuple[float, float], left_eye: tuple[float, float]
) -> str | None:
    """The face between and around the eyes (pixel coordinates of ``grey``), aligned and shrunk to
    ``SIGNATURE_PX`` square, as base64 of its grey bytes; None when the eyes coincide."""
    (rx, ry), (lx, ly) = right_eye, left_eye
    span = math.hypot(lx - rx, ly - ry)
    if span < 1.0:
        return None
    scale = _EYE_SPAN * _ALIGN_PX / span
    angle = math.atan2(ly - ry, lx - rx)
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    cx, cy = (rx + lx) / 2.0, (ry + ly) / 2.0
    # Rotate the eye line level, scale, and put the eyes' midpoint at (centre, _EYE_ROW).
    matrix = np.array(
        [
            [cos, sin, _ALIGN_PX / 2.0 - (cos * cx + sin * cy)],
            [-sin, cos, _EYE_ROW * _ALIGN_PX - (-sin * cx + cos * cy)],
        ]
    )
    # Shrinking: smooth first so fine texture does not alias.
    source = cv2.GaussianBlur(grey, (0, 0), 0.5 / scale) if scale < 1.0 else grey
    aligned = cv2.warpAffine(
        source, matrix, (_ALIGN_PX, _ALIGN_PX), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    square = cv2.resize(aligned, (SIGNATURE_PX, SIGNATURE_PX), interpolation=cv2.INTER_AREA)
    return base64.b64encode(np.ascontiguousarray(square, dtype=np.uint8).tobytes()).decode("ascii")


def _levels(signature: str) -> npt.NDArray[np.float64] | None:
    raw = np.frombuffer(base64.b64decode(signature), dtype=np.uint8).astype(np.float64)
    if raw.size != SIGNATURE_PX * SIGNATURE_PX:
        return None
    centred = raw - raw.mean()
    norm = math.sqrt(float(centred @ centred))
    return None if norm == 0 else centred / norm


def likeness(a: str, b: str) -> float | None:
    """Correlation of two signatures' grey levels (-1..1; 1: the same pixels); the mirrored
    comparison counts too, so a flipped copy is still a copy. None if either is unusable."""
    la, lb = _levels(a), _levels(b)
    if la is None or lb is None:
        return None
    mirrored = lb.reshape(SIGNATURE_PX, SIGNATURE_PX)[:, ::-1].ravel()
    return max(float(la @ lb), float(la @ mirrored))
