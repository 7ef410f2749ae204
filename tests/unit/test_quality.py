"""Edge spread, pixel noise and the derived blur and low-light variants, on images made in code."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks import quality, variants
from checks.judge import PhotoInput, face_snr, judge_photo
from checks.photo import PhotoMeasurement
from checks.policy import Policy

Grey = npt.NDArray[np.uint8]
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # 2.355


def edge_image(sigma_px: float, angle_deg: float = 0.0, size: int = 128, offset_px: float = 0.3) -> Grey:
    """A straight step from luma 60 to 180 through the centre, blurred by a Gaussian of ``sigma_px``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    angle = math.radians(angle_deg)
    across = (xx - size / 2 - offset_px) * math.cos(angle) + (yy - size / 2) * math.sin(angle)
    if sigma_px == 0:
        step = (across > 0).astype(np.float64)
    else:
        step = 0.5 * (1.0 + np.vectorize(math.erf)(across / (sigma_px * math.sqrt(2.0))))
    return np.asarray(np.rint(60.0 + 120.0 * step), dtype=np.uint8)


def face_like(size: int = 128, seed: int = 3) -> Grey:
    """Blocks of random grey levels with sharp edges: many edges in every orientation."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(40, 220, size=(8, 8)).astype(np.uint8)
    image = cv2.resize(cells, (size, size), interpolation=cv2.INTER_NEAREST)
    # Diagonal edges too: a sharp disk.
    cv2.circle(image, (size // 2, size // 2), size // 4, 250, thickness=-1, lineType=cv2.LINE_8)
    return np.asarray(image, dtype=np.uint8)


def spread(grey: Grey, face_px: float | None = None) -> quality.EdgeSpread:
    got = quality.edge_spread(grey, float(face_px or grey.shape[1]))
    assert got is not None
    return got


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 90.0, 135.0])
def test_unblurred_step_has_no_blur_width(angle: float) -> None:
    # The operator's own width of a perfect step is removed: what is left is under a pixel.
    assert spread(edge_image(0.0, angle)).blur_px < 1.0


@pytest.mark.parametrize(("sigma", "angle"), [(1.0, 0.0), (2.0, 0.0), (2.0, 45.0), (3.0, 90.0), (4.0, 30.0)])
def test_blur_width_of_a_gaussian_edge_is_its_fwhm(sigma: float, angle: float) -> None:
    # A step blurred by a Gaussian of sigma has a gradient profile FWHM of 2.355 sigma; measured
    # within 20% (pixel sampling and the 8-bit rounding of wide ramps).
    measured = spread(edge_image(sigma, angle)).blur_px
    assert measured == pytest.approx(FWHM_PER_SIGMA * sigma, rel=0.2)


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0.8, max_value=4.0), st.floats(min_value=0.0, max_value=180.0))
def test_more_blur_never_measures_sharper(sigma: float, angle: float) -> None:
    sharper = spread(edge_image(sigma, angle)).blur_px
    blurrier = spread(edge_image(sigma * 1.5, angle)).blur_px
    assert blurrier > sharper


def test_spread_is_in_face_widths() -> None:
    got = spread(edge_image(2.0), face_px=100.0)
    assert got.share == pytest.approx(got.blur_px / 100.0)
    assert got.widest_share >= got.share


def test_motion_blur_widens_the_edges_across_the_motion() -> None:
    face = np.dstack([face_like()] * 3)
    smeared = quality.to_grey(variants.motion_blur(face, 12.0, 0.0))
    sharp, moved = spread(face_like()), spread(smeared)
    # Horizontal motion leaves horizontal edges sharp: the widest orientation shows it.
    assert moved.widest_px > 6.0 > sharp.widest_px
    assert moved.widest_px > moved.blur_px


def test_defocus_widens_every_edge() -> None:
    face = np.dstack([face_like()] * 3)
    blurred = spread(quality.to_grey(variants.defocus_blur(face, 4.0)))
    # A disk of radius r spreads a step over 2r; its half-maximum width is about 1.7 r.
    assert blurred.blur_px > 4.0
    assert spread(face_like()).blur_px < 1.5


def test_small_sharp_face_is_not_blurred() -> None:
    # The same sharp blocks at 40 px: measured as they are, never enlarged.
    small = cv2.resize(face_like(), (40, 40), interpolation=cv2.INTER_NEAREST)
    canon, face_px = quality.canonical_face(np.asarray(small, dtype=np.uint8), 40.0)
    assert canon.shape == (40, 40) and face_px == 40.0
    assert spread(canon, face_px).blur_px < 1.5


def test_large_face_is_shrunk_to_the_canonical_width() -> None:
    big = cv2.resize(face_like(), (512, 600), interpolation=cv2.INTER_NEAREST)
    canon, face_px = quality.canonical_face(np.asarray(big, dtype=np.uint8), 512.0)
    assert face_px == quality.SPREAD_FACE_PX and canon.shape[1] == quality.SPREAD_FACE_PX


def test_flat_region_has_no_edges() -> None:
    assert quality.edge_spread(np.full((64, 64), 120, dtype=np.uint8), 64.0) is None


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_noise_estimate_on_known_noise(sigma: float) -> None:
    rng = np.random.default_rng(7)
    # Noise on a smooth ramp (which the kernel cancels), kept away from 0 and 255.
    ramp = np.add.outer(np.linspace(80, 160, 200), np.linspace(0, 20, 200))
    noisy = np.asarray(np.clip(np.rint(ramp + rng.normal(0.0, sigma, ramp.shape)), 0, 255), dtype=np.uint8)
    assert quality.noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)


def test_noise_estimate_ignores_edges() -> None:
    # A clean image of sharp blocks has no noise, however many edges it has.
    assert quality.noise_sigma(face_like()) < 0.5


def test_grain_contrast_is_the_luma_spread() -> None:
    got = quality.grain(face_like())
    assert got.contrast == pytest.approx(float(face_like().std()), rel=1e-6)


def test_line_and_disk_kernels() -> None:
    line = variants.line_kernel(9.0, 45.0)
    assert line.sum() > 0 and line.shape[0] == line.shape[1]
    # The path is symmetric about the centre.
    assert np.allclose(line, line[::-1, ::-1], atol=1e-5)
    disk = variants.disk_kernel(4.0)
    assert disk.sum() == pytest.approx(math.pi * 16.0, rel=0.05)


def test_low_light_is_darker_and_noisier_and_repeatable() -> None:
    face = np.dstack([face_like()] * 3)
    dim = variants.low_light(face, 1 / 64)
    assert np.array_equal(dim, variants.low_light(face, 1 / 64))
    grey, dim_grey = quality.to_grey(face), quality.to_grey(dim)
    assert dim_grey.mean() < 0.7 * grey.mean()
    assert quality.noise_sigma(dim_grey) > quality.noise_sigma(grey) + 2.0
    # Less light, more noise.
    assert quality.noise_sigma(quality.to_grey(variants.low_light(face, 1 / 256))) > quality.noise_sigma(dim_grey)


def _measured(**values: float) -> PhotoMeasurement:
    base = {
        "width_px": 400,
        "height_px": 400,
        "face_count": 1,
        "face_width_px": 120.0,
        "inter_eye_px": 50.0,
        "sharpness": 400.0,
        "mean_luma": 130.0,
        "edge_spread": 0.02,
        "edge_spread_widest": 0.03,
        "edge_spread_px": 2.5,
        "face_noise": 1.0,
        "face_contrast": 45.0,
    }
    return PhotoMeasurement(**{**base, **values})  # type: ignore[arg-type]


def _reasons(m: PhotoMeasurement, policy: Policy) -> dict[str, dict[str, object]]:
    judged = judge_photo(PhotoInput(kind="live", measurement=m), policy)
    return {r.code.value: r.to_dict() for r in judged.reasons}


def test_judge_blurry_on_edge_spread(default_policy: Policy) -> None:
    rules = default_policy.checks.clarity
    assert "BLURRY" not in _reasons(_measured(), default_policy)
    wide = _reasons(_measured(edge_spread=rules.max_edge_spread, edge_spread_px=5.0), default_policy)
    assert wide["BLURRY"]["measure"] == "edge_spread" and wide["BLURRY"]["comparison"] == ">="
    widest = _reasons(_measured(edge_spread_widest=rules.max_edge_spread_widest, edge_spread_px=5.0), default_policy)
    assert widest["BLURRY"]["measure"] == "edge_spread_widest"


def test_judge_small_sharp_face_is_not_blurry_but_a_small_blurred_one_is(default_policy: Policy) -> None:
    rules = default_policy.checks.clarity
    small = {"face_width_px": 30.0, "inter_eye_px": 12.0, "edge_spread": 0.04}
    sharp = _reasons(_measured(**small, edge_spread_px=rules.min_edge_spread_px - 0.1), default_policy)
    assert "FACE_TOO_SMALL" in sharp and "BLURRY" not in sharp
    blurred = _reasons(_measured(**small, edge_spread_px=rules.min_edge_spread_px + 0.5), default_policy)
    assert {"FACE_TOO_SMALL", "BLURRY"} <= set(blurred)


def test_judge_too_dark_when_dim_and_grainy(default_policy: Policy) -> None:
    rules = default_policy.checks.exposure
    dim = rules.dim_max_mean_luma - 1.0
    noise = 4.0
    grainy = _measured(mean_luma=dim, face_noise=noise, face_contrast=noise * rules.dim_min_face_snr * 0.8)
    found = _reasons(grainy, default_policy)["TOO_DARK"]
    assert found["measure"] == "face_snr" and found["comparison"] == "<"
    assert face_snr(grainy) == pytest.approx(rules.dim_min_face_snr * 0.8)
    # As grainy but bright enough, or as dim but clean: not TOO_DARK.
    bright = _measured(mean_luma=rules.dim_max_mean_luma + 1.0, face_noise=noise, face_contrast=noise * 5)
    clean = _measured(mean_luma=dim, face_noise=0.5, face_contrast=30.0)
    assert "TOO_DARK" not in _reasons(bright, default_policy)
    assert "TOO_DARK" not in _reasons(clean, default_policy)
    # Darker than min_mean_luma is TOO_DARK on the mean alone, as before.
    dark = _reasons(_measured(mean_luma=rules.min_mean_luma - 1.0), default_policy)["TOO_DARK"]
    assert dark["measure"] == "face_mean_luma"


def test_edges_and_noise_are_not_measured_on_the_whole_photo_for_a_degenerate_face_box() -> None:
    from checks.photo import measure_photo

    rgb = np.dstack([face_like(256)] * 3)
    tiny = PhotoMeasurement(width_px=256, height_px=256, face_count=1, face_box=(10.0, 10.0, 12.0, 12.0))
    got = measure_photo(rgb, tiny, frozenset({"faces", "occlusion", "likeness"}))
    # Exposure and sharpness fall back to the whole photo, as before; edges and noise say nothing.
    assert got.mean_luma is not None and got.sharpness is not None
    assert got.edge_spread is None and got.face_noise is None and got.face_contrast is None


def _textured(size: int = 160, seed: int = 5) -> Grey:
    """Smooth shading with fine texture, like skin and features: detail inside every 8x8 block."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    base = 110 + 50 * np.sin(xx / 23.0) * np.cos(yy / 31.0)
    texture = cv2.GaussianBlur(rng.normal(0, 14, (size, size)), (0, 0), 1.2)
    return np.asarray(np.clip(base + texture, 0, 255), dtype=np.uint8)


def _jpeg(grey: Grey, quality_percent: int) -> Grey:
    ok, buf = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, quality_percent])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), dtype=np.uint8)


def test_block_artifacts_grow_as_jpeg_quality_falls_and_need_the_grid() -> None:
    image = _textured()
    clean = quality.block_artifacts(image, 0, 0)
    light, heavy = (quality.block_artifacts(_jpeg(image, q), 0, 0) for q in (90, 5))
    assert clean is not None and light is not None and heavy is not None
    assert 0.8 < clean < 1.2 and light < 1.3  # no grid, or a faint one
    assert heavy > 2.0  # the blocks' edges dominate the little detail left inside them
    # Cut off the grid (a region starting 3 px in, counted from there as if it were the origin):
    # the boundaries fall inside blocks and the figure drops towards 1.
    shifted = quality.block_artifacts(_jpeg(image, 5)[3:, 3:], 0, 0)
    assert shifted is not None and shifted < heavy / 1.5
    # The same region counted from its true place in the photo finds the grid again.
    again = quality.block_artifacts(_jpeg(image, 5)[3:, 3:], 3, 3)
    assert again is not None and abs(again / heavy - 1) < 0.1
    assert quality.block_artifacts(image[:12, :40], 0, 0) is None  # under two blocks tall
    assert quality.block_artifacts(np.full((40, 40), 128, np.uint8), 0, 0) is None  # flat: nothing to judge


def test_judge_blurry_on_compression_blocks(default_policy: Policy) -> None:
    bound = default_policy.checks.clarity.max_block_artifacts
    assert "BLURRY" not in _reasons(_measured(block_artifacts=bound - 0.01), default_policy)
    blocky = _reasons(_measured(block_artifacts=bound + 1), default_policy)
    assert blocky["BLURRY"]["measure"] == "block_artifacts" and blocky["BLURRY"]["comparison"] == ">="
