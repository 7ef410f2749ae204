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


# Real blur, as cameras make it: lens shake during the exposure (a line), a
# missed focus (a disk), and heavy compression. Sizes are in px; calibration
# gives them as a share of the detected face width.


def _convolve(rgb: RGB, kernel: npt.NDArray[np.float32]) -> RGB:
    out = cv2.filter2D(rgb.astype(np.float32), -1, kernel / float(kernel.sum()), borderType=cv2.BORDER_REFLECT)
    return np.asarray(np.clip(out + 0.5, 0, 255), dtype=np.uint8)


def line_kernel(length_px: float, angle_deg: float) -> npt.NDArray[np.float32]:
    """A straight motion path ``length_px`` long at ``angle_deg`` (0 = horizontal), drawn antialiased."""
    if length_px <= 0:
        raise ValueError("length_px must be positive")
    half = length_px / 2.0
    size = 2 * int(np.ceil(half)) + 3
    centre = size // 2
    kernel = np.zeros((size, size), dtype=np.float32)
    # Sample the path densely and splat each sample bilinearly onto the grid.
    t = np.linspace(-half, half, max(2, int(np.ceil(length_px * 4)) + 1))
    angle = np.deg2rad(angle_deg)
    xs, ys = centre + t * np.cos(angle), centre - t * np.sin(angle)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for ox, oy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + oy, x0 + ox), weight.astype(np.float32))
    return kernel


def disk_kernel(radius_px: float) -> npt.NDArray[np.float32]:
    """A uniform disk of ``radius_px`` (a lens out of focus), its rim antialiased by 4x supersampling."""
    if radius_px <= 0:
        raise ValueError("radius_px must be positive")
    size = 2 * int(np.ceil(radius_px)) + 1
    centre = size // 2
    fine = (np.arange(size * 4) + 0.5) / 4.0 - centre - 0.5
    yy, xx = np.meshgrid(fine, fine, indexing="ij")
    inside = (xx * xx + yy * yy <= radius_px * radius_px).astype(np.float32)
    return np.asarray(inside.reshape(size, 4, size, 4).mean(axis=(1, 3)), dtype=np.float32)


def motion_blur(rgb: RGB, length_px: float, angle_deg: float = 0.0) -> RGB:
    """The photo smeared along a straight path ``length_px`` long at ``angle_deg``."""
    return _convolve(rgb, line_kernel(length_px, angle_deg))


def defocus_blur(rgb: RGB, radius_px: float) -> RGB:
    """The photo seen through a lens out of focus: each point spread over a disk of ``radius_px``."""
    return _convolve(rgb, disk_kernel(radius_px))


# Low light, as a phone sensor records it: the scene gives fewer photons, each
# pixel counts them with Poisson noise plus read noise, and the camera's gain
# brings the picture back up, noise and all, though not to full brightness.
SRGB_GAMMA = 2.2
FULL_WELL_ELECTRONS = 4000.0  # electrons a pixel collects at full white in good light
READ_NOISE_ELECTRONS = 3.0
LOW_LIGHT_BRIGHTNESS = 0.25  # linear brightness the camera's gain restores (two stops under the original)


def low_light(rgb: RGB, light_share: float, seed: int = 0) -> RGB:
    """The photo as taken with ``light_share`` (0-1) of the original light, then amplified by the
    camera's gain to ``LOW_LIGHT_BRIGHTNESS`` of the original linear brightness.

    Noise is drawn per channel (a sensor's colour pixels count separately) from
    a generator seeded with ``seed``, so a variant is the same every time.
    """
    if not 0 < light_share <= 1:
        raise ValueError("light_share must be in (0, 1]")
    rng = np.random.default_rng(seed)
    linear = (rgb.astype(np.float64) / 255.0) ** SRGB_GAMMA
    electrons = linear * FULL_WELL_ELECTRONS * light_share
    counted = rng.poisson(electrons) + rng.normal(0.0, READ_NOISE_ELECTRONS, size=rgb.shape)
    gained = np.clip(counted / (FULL_WELL_ELECTRONS * light_share) * LOW_LIGHT_BRIGHTNESS, 0.0, 1.0)
    return np.asarray(np.clip(gained ** (1.0 / SRGB_GAMMA) * 255.0 + 0.5, 0, 255), dtype=np.uint8)
