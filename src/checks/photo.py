"""Measure one decoded photo: faces, eye distance, sharpness, exposure, descriptor.

Detection runs YuNet on a working copy, then dlib's HOG and CNN detectors
when YuNet finds nothing (see ``find_faces``). The working copy: small tight crops (ID-card chip portraits are
about 102x126 px) get a replicated border and are enlarged, because the HOG
detector needs context around the face and at least ~80 px faces; large phone
photos are shrunk, because detection cost grows with pixels. Sharpness and
exposure are measured on the face region of the original pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from checks import face as face_adapter
from checks import occlusion, quality

EXTRACTOR_VERSION = (
    f"photo-3+{face_adapter.FACE_ADAPTER_VERSION}+{quality.QUALITY_VERSION}+{occlusion.OCCLUSION_VERSION}"
)

WORK_MAX_SIDE_PX = 640
# YuNet confidence (0..1) for a face. On ../shared/faces every clear photo
# scores at least 0.7 (median 0.91); 3 of the 9 face-free photos reach 0.5.
YUNET_MIN_SCORE = 0.5
# Other faces beside the main one count towards ``face_count`` only when they
# are another person at a comparable distance: confidence at least
# OTHER_FACE_MIN_SCORE, at least OTHER_FACE_MIN_WIDTH times the main face's
# width, centred inside the photo (not in the working copy's border), and not
# overlapping the main face (a second box on the same face). On
# ../shared/faces, second faces in group photos score 0.72 to 0.93; spurious
# second boxes on clear single-face photos score up to 0.68, or overlap the
# face, or sit in the border, or are small faces far behind.
OTHER_FACE_MIN_SCORE = 0.7
OTHER_FACE_MIN_WIDTH = 0.4
OTHER_FACE_MAX_OVERLAP = 0.2
CNN_MAX_SIDE_PX = 200
# Weakest HOG score still measured when neither detector is confident. On
# ../shared/faces it lifts found masked faces from 38 to 43 of 68 and
# sunglasses from 31 to 39 of 58, and admits 1 more of 9 face-free photos.
WEAK_HOG_SCORE = -0.4
PAD_FRACTION = 0.25


@dataclass(frozen=True)
class WorkingImage:
    pixels: npt.NDArray[np.uint8]
    scale: float  # working px per original px
    pad_px: int  # border added (in original px) on each side before scaling

    def to_original(self, box: face_adapter.FaceBox) -> face_adapter.FaceBox:
        return box.scaled(1.0 / self.scale, -self.pad_px, -self.pad_px)

    def point_to_original(self, p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] / self.scale - self.pad_px, p[1] / self.scale - self.pad_px)


def working_image(rgb: npt.NDArray[np.uint8], max_side_px: int = WORK_MAX_SIDE_PX) -> WorkingImage:
    h, w = rgb.shape[:2]
    pad = round(max(h, w) * PAD_FRACTION)
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    scale = max_side_px / float(max(padded.shape[:2]))
    if abs(scale - 1.0) > 1e-3:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        padded = cv2.resize(padded, None, fx=scale, fy=scale, interpolation=interp)
    else:
        scale = 1.0
    return WorkingImage(np.ascontiguousarray(padded), scale, pad)


def find_faces(rgb: npt.NDArray[np.uint8]) -> tuple[WorkingImage, list[face_adapter.FaceBox]]:
    """YuNet on the working copy; if it finds nothing, HOG, then the CNN
    detector, then weak HOG candidates.

    YuNet finds faces half hidden by a mask, sunglasses or a hand, and small
    faces in large photos, at about 10 ms for a 640 px copy. dlib's
    detectors are the fallback for what it misses:
    A photo that was shrunk for the working copy may hold small faces (group
    photos, a second person behind the subscriber), so HOG upsamples it once;
    an enlarged small crop gains nothing from upsampling. The CNN detector
    runs on a small copy: it finds turned and tightly cropped faces that HOG
    misses, at higher cost. Last, HOG candidates below dlib's usual cut-off
    (down to ``WEAK_HOG_SCORE``, from the same HOG pass, so at no extra cost):
    faces half hidden by a mask or sunglasses score there, and it is better to
    measure them and say what hides them than to report no face at all.
    """
    work = working_image(rgb)
    found = face_adapter.detect_yunet(work.pixels, YUNET_MIN_SCORE)
    if found:
        return work, _distinct_faces(work, found)
    candidates = face_adapter.detect(work.pixels, upsample=1 if work.scale < 1.0 else 0, min_score=WEAK_HOG_SCORE)
    confident = [b for b in candidates if b.score >= 0.0]
    if confident:
        return work, confident
    small = working_image(rgb, CNN_MAX_SIDE_PX)
    found = face_adapter.detect_cnn(small.pixels)
    if found:
        return small, found
    return work, candidates


def _distinct_faces(work: WorkingImage, boxes: list[face_adapter.FaceBox]) -> list[face_adapter.FaceBox]:
    """The main (best) face, then the other faces that count (see ``OTHER_FACE_MIN_SCORE``)."""
    main = boxes[0]
    h, w = work.pixels.shape[:2]
    border = work.pad_px * work.scale
    kept = [main]
    for box in boxes[1:]:
        cx, cy = (box.left + box.right) / 2.0, (box.top + box.bottom) / 2.0
        inside = border <= cx <= w - border and border <= cy <= h - border
        ix = max(0.0, min(box.right, main.right) - max(box.left, main.left))
        iy = max(0.0, min(box.bottom, main.bottom) - max(box.top, main.top))
        overlap = ix * iy / max(box.width * box.height, 1e-6)
        if (
            inside
            and box.score >= OTHER_FACE_MIN_SCORE
            and box.width >= OTHER_FACE_MIN_WIDTH * main.width
            and overlap <= OTHER_FACE_MAX_OVERLAP
        ):
            kept.append(box)
    return kept


@dataclass(frozen=True)
class PhotoMeasurement:
    """Everything measured on one photo. Numbers only; the policy decides."""

    width_px: int
    height_px: int
    face_count: int
    detection_score: float | None = None
    face_box: tuple[float, float, float, float] | None = None  # left, top, right, bottom (original px)
    face_width_px: float | None = None
    # subject's right eye, left eye and nose tip as x, y pairs (original px)
    landmarks: tuple[float, ...] | None = None
    inter_eye_px: float | None = None
    sharpness: float | None = None
    mean_luma: float | None = None
    dark_share: float | None = None
    bright_share: float | None = None
    mouth_nose_skin_share: float | None = None
    forehead_skin_share: float | None = None
    eye_skin_luma_ratio: float | None = None
    eyes_seen: int | None = None
    descriptor: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhotoMeasurement:
        values = dict(data)
        for key in ("face_box", "landmarks", "descriptor"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


def _clip_box(box: face_adapter.FaceBox, w: int, h: int) -> tuple[int, int, int, int]:
    left = max(0, int(np.floor(box.left)))
    top = max(0, int(np.floor(box.top)))
    right = min(w, int(np.ceil(box.right)))
    bottom = min(h, int(np.ceil(box.bottom)))
    return left, top, right, bottom


def measure_photo(rgb: npt.NDArray[np.uint8]) -> PhotoMeasurement:
    """Measure an RGB ``uint8`` image of shape (h, w, 3)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got shape {rgb.shape} dtype {rgb.dtype}")
    h, w = rgb.shape[:2]
    work, detections = find_faces(rgb)
    grey = quality.to_grey(rgb)
    if not detections:
        whole = quality.exposure(grey)
        return PhotoMeasurement(
            width_px=w,
            height_px=h,
            face_count=0,
            mean_luma=whole.mean_luma,
            dark_share=whole.dark_share,
            bright_share=whole.bright_share,
        )
    best = detections[0]
    eyes, descriptor = face_adapter.landmarks_and_encoding(work.pixels, best)
    box = work.to_original(best)
    left, top, right, bottom = _clip_box(box, w, h)
    region = grey[top:bottom, left:right]
    if region.shape[0] < 4 or region.shape[1] < 4:
        region = grey
    exp = quality.exposure(region)
    occ = occlusion.measure_occlusion(work.pixels, eyes.right_eye, eyes.left_eye, eyes.nose_tip)
    return PhotoMeasurement(
        width_px=w,
        height_px=h,
        face_count=len(detections),
        detection_score=best.score,
        face_box=(box.left, box.top, box.right, box.bottom),
        face_width_px=box.width,
        landmarks=tuple(
            v for point in (eyes.right_eye, eyes.left_eye, eyes.nose_tip) for v in work.point_to_original(point)
        ),
        inter_eye_px=eyes.inter_eye_px / work.scale,
        sharpness=quality.sharpness(region),
        mean_luma=exp.mean_luma,
        dark_share=exp.dark_share,
        bright_share=exp.bright_share,
        mouth_nose_skin_share=occ.mouth_nose_skin_share,
        forehead_skin_share=occ.forehead_skin_share,
        eye_skin_luma_ratio=occ.eye_skin_luma_ratio,
        eyes_seen=occ.eyes_seen,
        descriptor=tuple(float(v) for v in descriptor),
    )
