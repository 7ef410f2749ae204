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
