"""Derived photos for measuring the checks: blurred, darkened, overexposed.

Blur strength is given relative to the face width, so a small face and a large
face are degraded alike (``sigma_px = strength * face_width_px``).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.uint8]


def gaussian_blur(rgb: RGB, sigma_px: float) -> RGB:
    if sigma_px <= 0:
        raise ValueError("sigma_px must be positive")
    return np.asarray(cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma_px, sigmaY=sigma_px), dtype=np.uint8)


def scale_exposure(rgb: RGB, factor: float) -> RGB:
    """Multiply every channel (``factor`` < 1 darkens), clipped to 0..255."""
    return np.asarray(np.clip(rgb.astype(np.float32) * factor + 0.5, 0, 255), dtype=np.uint8)


def add_exposure(rgb: RGB, offset: float) -> RGB:
    """Add a constant to every channel (overexposure washes detail out), clipped to 0..255."""
    return np.asarray(np.clip(rgb.astype(np.float32) + offset, 0, 255), dtype=np.uint8)


# Copies of a photo, as someone passing a stored portrait off as a new capture would make them.


def reencode_jpeg(rgb: RGB, quality: float) -> RGB:
    """The photo saved as a JPEG at ``quality`` (1-100) and decoded again."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError("JPEG decoding failed")
    return np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def rescale(rgb: RGB, factor: float) -> RGB:
    """The photo resized by ``factor`` (area averaging down, bicubic up)."""
    if factor <= 0:
        raise ValueError("factor must be positive")
    h, w = rgb.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    method = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(rgb, size, interpolation=method), dtype=np.uint8)


def crop_border(rgb: RGB, share: float) -> RGB:
    """The middle of the photo, without ``share`` of its width and height (half on each side)."""
    if not 0 <= share < 1:
        raise ValueError("share must be in [0, 1)")
    h, w = rgb.shape[:2]
    dy, dx = round(h * share / 2), round(w * share / 2)
    return np.ascontiguousarray(rgb[dy : h - dy, dx : w - dx])


def mirror(rgb: RGB, _unused: float = 0.0) -> RGB:
    """The photo flipped left to right."""
    return np.ascontiguousarray(rgb[:, ::-1])
