"""Image quality measurements on a grey-level region: exposure, sharpness, edge spread, noise and
compression blocks."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

GreyImage = npt.NDArray[np.uint8]

QUALITY_VERSION = "quality-3"

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


# Edge spread: how far blur smears the face's edges, in face widths.
#
# Blur of any kind (motion, defocus, a soft lens, heavy smoothing) widens the
# profile of an edge: the gradient across it is spread over more pixels. The
# measure is the full width at half maximum of the gradient profile across
# each strong edge of the face, walked along the gradient's direction (one of
# four, 45 degrees apart). An unblurred step measures EDGE_BASE_WIDTH_PX with
# this gradient operator; that is removed in quadrature, so what remains is the
# blur's own width. A face has soft edges by nature (the shading of a cheek or
# the side of a nose), so the figure is the sharpest quarter of its strong
# edges (EDGE_QUANTILE): a sharp face keeps its eyes, brows, lips and outline
# narrow, a blurred one has no narrow edge left. Motion blur widens only the
# edges across the motion, so the same figure is also taken in each
# orientation and the widest orientation is reported.
#
# The face is measured at most SPREAD_FACE_PX wide (a larger face is shrunk
# first; a smaller one is measured as it is, never enlarged, so a small sharp
# face is not called blurred for being small). An ID-card chip portrait is
# about 102 px wide: a face sharp at 128 px carries what a verification needs.
SPREAD_FACE_PX = 128
EDGE_BASE_WIDTH_PX = 1.8
# An edge counts when the step across it is at least this share of the face's
# luma range (2nd to 98th percentile): skin texture and noise are not edges.
EDGE_MIN_STEP_SHARE = 0.3
# An edge is followed at most this share of the face width on each side.
EDGE_MAX_WALK_SHARE = 0.3
# The edge reported: this quantile of the widths, the sharpest quarter.
EDGE_QUANTILE = 0.25
# Orientations with fewer measured edges than this are not reported alone.
EDGE_MIN_PER_ORIENTATION = 8
# Unit steps (dy, dx) along gradients at 0, 45, 90 and 135 degrees.
_STEPS = ((0, 1), (1, 1), (1, 0), (1, -1))
# A half-maximum Gaussian profile's area is 1.064 times its height times its width.
_GAUSS_AREA = 1.0645
# Pixels' noise: the residual of the 3x3 kernel below has, for white noise of
# standard deviation s, a standard deviation of 6 s (its coefficients' squares
# sum to 36); the median absolute residual of normal noise is 0.6745 times
# its standard deviation.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_MAD_TO_SIGMA = 1.0 / (0.6745 * 6.0)


@dataclass(frozen=True)
class EdgeSpread:
    face_px: float  # face width at which the edges were measured
    blur_px: float  # blur width (FWHM, px at face_px) at the EDGE_QUANTILE of all strong edges
    widest_px: float  # the same in the orientation whose edges are widest
    edges: int  # strong edges measured

    @property
    def share(self) -> float:
        """Blur width of the face's edges, in face widths."""
        return self.blur_px / self.face_px

    @property
    def widest_share(self) -> float:
        """Blur width in the worst orientation, in face widths."""
        return self.widest_px / self.face_px


@dataclass(frozen=True)
class Grain:
    noise: float  # standard deviation of pixel noise, grey levels
    contrast: float  # standard deviation of luma across the face, grey levels


def canonical_face(grey_face: GreyImage, face_width_px: float, max_px: int = SPREAD_FACE_PX) -> tuple[GreyImage, float]:
    """The face region shrunk so the face is at most ``max_px`` wide (never enlarged), and the face's width there."""
    if face_width_px <= max_px:
        return grey_face, face_width_px
    scale = max_px / face_width_px
    h, w = grey_face.shape[:2]
    size = (max(4, round(w * scale)), max(4, round(h * scale)))
    return np.asarray(cv2.resize(grey_face, size, interpolation=cv2.INTER_AREA), dtype=np.uint8), float(max_px)


def noise_sigma(grey: GreyImage) -> float:
    """Standard deviation of pixel noise (grey levels), from the median absolute residual of a
    second-difference kernel that cancels flat areas and linear ramps (Immerkaer's kernel, with a
    median instead of a mean so that edges do not count)."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        raise ValueError("region too small to measure noise")
    residual = cv2.filter2D(grey.astype(np.float32), cv2.CV_32F, _NOISE_KERNEL)[1:-1, 1:-1]
    return float(np.median(np.abs(residual))) * _MAD_TO_SIGMA


def grain(grey_face: GreyImage) -> Grain:
    """Noise and contrast of the face region (see ``canonical_face`` for the scale to use)."""
    return Grain(noise=noise_sigma(grey_face), contrast=float(grey_face.astype(np.float32).std()))


def _half_widths(
    flat: npt.NDArray[np.float32], centre: npt.NDArray[np.intp], stride: npt.NDArray[np.intp], walk: int
) -> npt.NDArray[np.float32]:
    """Width (in steps) between the half-maximum crossings on both sides of each gradient peak.

    ``flat`` holds the gradient profiles, ``centre`` each peak's index in it and
    ``stride`` the index step along its profile; every walk of up to ``walk``
    steps must stay inside ``flat`` and end on a value below any half maximum.
    """
    sign = np.sign(flat[centre])
    peak = np.abs(flat[centre])
    half = peak / 2.0
    total = np.zeros(len(centre), dtype=np.float32)
    for direction in (-1, 1):
        dist = np.full(len(centre), float(walk), dtype=np.float32)
        alive = np.arange(len(centre))
        before = peak
        for k in range(1, walk + 1):
            value = flat[centre[alive] + direction * k * stride[alive]] * sign[alive]
            crossed = value < half[alive]
            if crossed.any():
                part = (before[crossed] - half[alive][crossed]) / np.maximum(before[crossed] - value[crossed], 1e-6)
                dist[alive[crossed]] = k - 1 + part
                alive, before = alive[~crossed], value[~crossed]
                if not len(alive):
                    break
            else:
                before = value
        total += dist
    return total


def edge_spread(grey_face: GreyImage, face_width_px: float) -> EdgeSpread | None:
    """How far the face's edges are spread (see the notes above); None when no edge qualifies.

    ``grey_face`` is the face region as measured (see ``canonical_face``) and
    ``face_width_px`` the face's width in it.
    """
    h, w = grey_face.shape[:2]
    if h < 8 or w < 8:
        raise ValueError("region too small to measure edges")
    img = grey_face.astype(np.float32)
    gx = np.asarray(cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3, scale=0.125), dtype=np.float32)
    gy = np.asarray(cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3, scale=0.125), dtype=np.float32)
    magnitude = cv2.magnitude(gx, gy)
    orientation = np.rint((np.degrees(np.arctan2(gy, gx)) % 180.0) / 45.0).astype(np.int32) % 4
    low, high = np.percentile(img, (2, 98))
    min_step = EDGE_MIN_STEP_SHARE * max(float(high - low), 1.0)
    # Gradient peaks below three times the noise's own gradient (Sobel / 8 scales noise by 0.43) are noise.
    floor = max(1.0, 3.0 * 0.433 * noise_sigma(grey_face))
    walk = max(3, round(EDGE_MAX_WALK_SHARE * face_width_px))
    inner = np.zeros((h, w), dtype=bool)
    inner[1:-1, 1:-1] = True
    candidates = inner & (magnitude >= floor)
    # The four orientations' gradient profiles, each padded past the region's edge with -1 (a
    # profile ends there), laid end to end so that all peaks are walked together.
    pad = walk + 1
    padded_w = w + 2 * pad
    size = (h + 2 * pad) * padded_w
    flat = np.empty(4 * size, dtype=np.float32)
    centres, strides, orient, lengths, along = [], [], [], [], []
    for index, (dy, dx) in enumerate(_STEPS):
        length = float(np.hypot(dy, dx))
        proj = np.asarray((gx * dx + gy * dy) / length, dtype=np.float32)  # the gradient along this step
        flat[index * size : (index + 1) * size] = np.pad(proj, pad, constant_values=-1.0).ravel()
        ys, xs = np.nonzero(candidates & (orientation == index))
        value = np.abs(proj[ys, xs])
        sign = np.sign(proj[ys, xs])
        # Keep only the peak of each profile (non-maximum suppression along the step).
        ahead = proj[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)] * sign
        behind = proj[np.clip(ys - dy, 0, h - 1), np.clip(xs - dx, 0, w - 1)] * sign
        peak = (value >= behind) & (value > ahead)
        ys, xs = ys[peak], xs[peak]
        centres.append(index * size + (ys + pad) * padded_w + (xs + pad))
        strides.append(np.full(len(ys), dy * padded_w + dx, dtype=np.intp))
        orient.append(np.full(len(ys), index, dtype=np.int32))
        lengths.append(np.full(len(ys), length, dtype=np.float32))
        along.append(value[peak])
    orientations = np.concatenate(orient)
    width = _half_widths(flat, np.concatenate(centres), np.concatenate(strides), walk) * np.concatenate(lengths)
    # The step across each edge: a profile's area is about its height times its half-maximum width.
    qualifies = np.concatenate(along) * width * _GAUSS_AREA >= min_step
    widths: list[npt.NDArray[np.float32]] = []
    per_orientation: list[float] = []
    for index in range(len(_STEPS)):
        kept = width[qualifies & (orientations == index)]
        widths.append(kept)
        if len(kept) >= EDGE_MIN_PER_ORIENTATION:
            per_orientation.append(float(np.quantile(kept, EDGE_QUANTILE)))
    every = np.concatenate(widths)
    if len(every) == 0:
        return None

    def blur(width: float) -> float:
        return float(np.sqrt(max(width * width - EDGE_BASE_WIDTH_PX**2, 0.0)))

    overall = blur(float(np.quantile(every, EDGE_QUANTILE)))
    widest = blur(max(per_orientation)) if per_orientation else overall
    return EdgeSpread(face_px=float(face_width_px), blur_px=overall, widest_px=widest, edges=len(every))


# Compression blocks: JPEG codes a photo in 8x8 pixel blocks, each quantised on its own. At low
# quality a block keeps little more than its mean, so the luma steps at block boundaries grow while
# the steps inside a block shrink: the face turns into a mosaic whose detail is gone, although no
# edge is spread. The measure is the mean absolute step across block boundaries over the mean step
# inside blocks, both directions together, on the face region cut from the photo as stored (the
# grid is counted from the photo's own origin). An uncompressed or lightly compressed face measures
# about 1; a photo that was resized after compression has no grid left and measures about 1 too
# (what it lost then shows as blur, if anything).
JPEG_BLOCK_PX = 8


def block_artifacts(grey_region: GreyImage, left: int, top: int) -> float | None:
    """Boundary steps over inner steps of the 8x8 grid for the region cut at (``left``, ``top``) of
    the photo; None for a region under two blocks in either direction."""
    h, w = grey_region.shape[:2]
    if h < 2 * JPEG_BLOCK_PX or w < 2 * JPEG_BLOCK_PX:
        return None
    g = grey_region.astype(np.float32)
    across_cols = np.abs(np.diff(g, axis=1))  # step between column j and j + 1
    across_rows = np.abs(np.diff(g, axis=0))
    col_edge = (left + np.arange(1, w)) % JPEG_BLOCK_PX == 0
    row_edge = (top + np.arange(1, h)) % JPEG_BLOCK_PX == 0
    boundary = float(across_cols[:, col_edge].sum() + across_rows[row_edge, :].sum())
    n_boundary = across_cols[:, col_edge].size + across_rows[row_edge, :].size
    inner = float(across_cols[:, ~col_edge].sum() + across_rows[~row_edge, :].sum())
    n_inner = across_cols[:, ~col_edge].size + across_rows[~row_edge, :].size
    inner_mean = inner / n_inner
    if inner_mean < 1e-3:  # a flat region: no detail to judge
        return None
    return (boundary / n_boundary) / inner_mean
