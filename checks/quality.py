"""Image quality measurements on a grey-level region: exposure and sharpness."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

GreyImage = npt.NDArray[np.uint8]

QUALITY_VERSION = "quality-1"

# Sharpness is measured on the face region resampled to this width, so a small
# sharp face and a large blurred face are compared on the same footing.
CANONICAL_FACE_PX = 128
DARK_LEVEL = 16
BRIGHT_LEVEL = 239


@dataclass(frozen=True)
class Exposure:
    mean_luma: float  # 0..255
    dark_share: float  # share of pixels at or below DARK_LEVEL
    bright_share: float  # share of pixels at or above BRIGHT_LEVEL


def to_grey(rgb: npt.NDArray[np.uint8]) -> GreyImage:
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def exposure(grey: GreyImage) -> Exposure:
    if grey.size == 0:
        raise ValueError("empty region")
    n = float(grey.size)
    return Exposure(
        mean_luma=float(grey.mean()),
        dark_share=float(np.count_nonzero(grey <= DARK_LEVEL)) / n,
        bright_share=float(np.count_nonzero(grey >= BRIGHT_LEVEL)) / n,
    )


def sharpness(grey_face: GreyImage) -> float:
    """Variance of the Laplacian of the face region at a canonical width.

    Higher is sharper. The region is resampled to ``CANONICAL_FACE_PX`` wide
    first, so the figure describes the face, not the camera resolution.
    """
    h, w = grey_face.shape[:2]
    if h < 4 or w < 4:
        raise ValueError("region too small to measure sharpness")
    scale = CANONICAL_FACE_PX / float(w)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    canon = cv2.resize(grey_face, (CANONICAL_FACE_PX, max(4, round(h * scale))), interpolation=interp)
    lap = cv2.Laplacian(canon.astype(np.float32), cv2.CV_32F, ksize=3)
    return float(lap.var())
