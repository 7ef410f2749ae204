"""Measure one decoded photo: faces, eye distance, sharpness, exposure, occlusion, face features.

Detection runs YuNet on small working copies, then dlib's HOG and CNN
detectors when YuNet finds nothing (see ``find_faces``). A working copy is
the photo resized with a replicated border around it: detectors need context
around a tightly cropped face (ID-card chip portraits are about 102x126 px),
and detection cost grows with pixels, so large phone photos are shrunk.
Everything else is measured on the original pixels around the face found:
landmarks, dlib's descriptor (when asked for) and occlusion on a crop
resampled to a fixed size (see ``face_crop``), SFace's feature on its own
crop, sharpness and exposure on the face region itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from checks import face as face_adapter
from checks import hands, likeness, occlusion, quality

# A measurement has three parts, each with its own version: the faces part
# (detection, landmarks, descriptor), clarity (sharpness and exposure) and
# occlusion. Clarity and occlusion are measured where the faces part says the
# face is, so a new faces version recomputes everything, while a new clarity
# or occlusion version recomputes only that part (see ``reusable_parts``).
# The faces part's version is its geometry (detection and landmarks, which the
# other parts are measured from) and its descriptors: a measurement whose
# geometry is current but whose descriptors are not (a new recognizer) has its
# faces part measured again and keeps the other parts when the face box and
# landmarks come out the same.
FACES_GEOMETRY_VERSION = f"photo-10/{face_adapter.FACE_ADAPTER_VERSION}"
FACES_DESCRIPTORS_VERSION = face_adapter.SFACE_VERSION
EXTRACTOR_PARTS: dict[str, str] = {
    "faces": f"{FACES_GEOMETRY_VERSION}+{FACES_DESCRIPTORS_VERSION}",
    "clarity": quality.QUALITY_VERSION,
    "occlusion": occlusion.OCCLUSION_VERSION,
    "likeness": likeness.LIKENESS_VERSION,
    "hands": hands.HANDS_VERSION,
}


def compose_version(parts: Mapping[str, str]) -> str:
    return ";".join(f"{name}={parts[name]}" for name in EXTRACTOR_PARTS)


def split_version(version: str) -> dict[str, str]:
    """The part versions inside an extractor version; {} for a version without parts."""
    out: dict[str, str] = {}
    for item in version.split(";"):
        name, sep, value = item.partition("=")
        if sep:
            out[name] = value
    return out


EXTRACTOR_VERSION = compose_version(EXTRACTOR_PARTS)


def reusable_parts(version: str) -> frozenset[str]:
    """Parts of a measurement made by extractor ``version`` that the current extractor would measure alike."""
    old = split_version(version)
    old_faces = old.get("faces", "")
    if old_faces.partition("+")[0] != FACES_GEOMETRY_VERSION:
        return frozenset()
    return frozenset(name for name, current in EXTRACTOR_PARTS.items() if old.get(name) == current)


def _same_geometry(a: PhotoMeasurement, b: PhotoMeasurement) -> bool:
    return (a.face_count, a.face_box, a.landmarks) == (b.face_count, b.face_box, b.landmarks)


# YuNet looks at the photo at these sizes (longest side of the padded copy), in
# this order, until it finds a face: 320 px finds almost every face at a
# quarter of the cost of 640 px; 640 px finds small faces in large photos;
# 160 px finds blurred faces, whose blur shrinks with the copy. dlib's HOG
# detector then looks at the 640 px copy, and its CNN detector at 200 px.
YUNET_SIDES_PX = (320, 640, 160)
WORK_MAX_SIDE_PX = 640
# Landmarks, descriptor and occlusion are measured on a square crop of the
# original pixels around the detected face: FACE_CROP_CONTEXT times the face
# box wide, resampled to FACE_CROP_PX (the face is then about 130 px wide,
# more than the 100 px the descriptor's aligned chip needs). The cost no
# longer grows with the photo, and a small face in a large photo keeps its
# full resolution.
FACE_CROP_PX = 288
FACE_CROP_CONTEXT = 2.2
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
    border_px: int  # replicated border (in working px) on each side

    def to_original(self, box: face_adapter.FaceBox) -> face_adapter.FaceBox:
        offset = -self.border_px / self.scale
        return box.scaled(1.0 / self.scale, offset, offset)

    def point_to_original(self, p: tuple[float, float]) -> tuple[float, float]:
        return ((p[0] - self.border_px) / self.scale, (p[1] - self.border_px) / self.scale)


def working_image(rgb: npt.NDArray[np.uint8], max_side_px: int = WORK_MAX_SIDE_PX) -> WorkingImage:
    """The photo resized, then given a replicated border of ``PAD_FRACTION`` of its longest side,
    so that the whole is ``max_side_px`` on its longest side."""
    h, w = rgb.shape[:2]
    border = round(max_side_px * PAD_FRACTION / (1.0 + 2.0 * PAD_FRACTION))
    scale = (max_side_px - 2 * border) / float(max(h, w))
    resized = rgb
    if abs(scale - 1.0) > 1e-3:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        size = (
            max(1, min(max_side_px - 2 * border, round(w * scale))),
            max(1, min(max_side_px - 2 * border, round(h * scale))),
        )
        resized = np.asarray(cv2.resize(rgb, size, interpolation=interp), dtype=np.uint8)
    else:
        scale = 1.0
        border = round(max(h, w) * PAD_FRACTION)
    padded = cv2.copyMakeBorder(resized, border, border, border, border, cv2.BORDER_REPLICATE)
    return WorkingImage(np.ascontiguousarray(padded), scale, border)


def find_faces(rgb: npt.NDArray[np.uint8]) -> tuple[WorkingImage, list[face_adapter.FaceBox]]:
    """YuNet on working copies of ``YUNET_SIDES_PX``; if it finds nothing,
    HOG, then the CNN detector, then weak HOG candidates.

    YuNet finds faces half hidden by a mask, sunglasses or a hand at a few
    milliseconds per copy. dlib's detectors are the fallback for what it
    misses. A photo that was shrunk for the working copy may hold small faces,
    so HOG upsamples it once; an enlarged small crop gains nothing from
    upsampling. The CNN detector runs on a small copy: it finds turned and
    tightly cropped faces that HOG misses, at higher cost. Last, HOG
    candidates below dlib's usual cut-off (down to ``WEAK_HOG_SCORE``, from
    the same HOG pass, so at no extra cost): it is better to measure a half
    hidden face and say what hides it than to report no face at all.
    """
    copies: dict[int, WorkingImage] = {}

    def copy(side: int) -> WorkingImage:
        if side not in copies:
            copies[side] = working_image(rgb, side)
        return copies[side]

    for side in YUNET_SIDES_PX:
        work = copy(side)
        found = face_adapter.detect_yunet(work.pixels, YUNET_MIN_SCORE)
        if not found:
            continue
        if side < WORK_MAX_SIDE_PX and len(_distinct_faces(work, found, YUNET_MIN_SCORE)) > 1:
            # Another face may be there. Small copies score second faces unreliably
            # (spurious ones higher, real ones lower), so count them on the 640 px copy.
            fine = copy(WORK_MAX_SIDE_PX)
            fine_found = face_adapter.detect_yunet(fine.pixels, YUNET_MIN_SCORE)
            if fine_found:
                return fine, _distinct_faces(fine, fine_found)
        return work, _distinct_faces(work, found)
    work = copy(WORK_MAX_SIDE_PX)
    candidates = face_adapter.detect(work.pixels, upsample=1 if work.scale < 1.0 else 0, min_score=WEAK_HOG_SCORE)
    confident = [b for b in candidates if b.score >= 0.0]
    if confident:
        return work, confident
    small = working_image(rgb, CNN_MAX_SIDE_PX)
    found = face_adapter.detect_cnn(small.pixels)
    if found:
        return small, found
    return work, candidates


def _distinct_faces(
    work: WorkingImage, boxes: list[face_adapter.FaceBox], min_score: float = OTHER_FACE_MIN_SCORE
) -> list[face_adapter.FaceBox]:
    """The main (best) face, then the other faces that count (see ``OTHER_FACE_MIN_SCORE``)."""
    main = boxes[0]
    h, w = work.pixels.shape[:2]
    border = work.border_px
    kept = [main]
    for box in boxes[1:]:
        cx, cy = (box.left + box.right) / 2.0, (box.top + box.bottom) / 2.0
        inside = border <= cx <= w - border and border <= cy <= h - border
        ix = max(0.0, min(box.right, main.right) - max(box.left, main.left))
        iy = max(0.0, min(box.bottom, main.bottom) - max(box.top, main.top))
        overlap = ix * iy / max(box.width * box.height, 1e-6)
        if (
            inside
            and box.score >= min_score
            and box.width >= OTHER_FACE_MIN_WIDTH * main.width
            and overlap <= OTHER_FACE_MAX_OVERLAP
        ):
            kept.append(box)
    return kept


# A square of the original photo around one face: crop px = (original px - (left, top)) * scale.
FaceCrop = face_adapter.SquareCrop


def face_crop(rgb: npt.NDArray[np.uint8], box: face_adapter.FaceBox) -> FaceCrop:
    """``box`` (original px) with its context, resampled to ``FACE_CROP_PX``; the photo's edge is replicated."""
    return face_adapter.square_crop(rgb, box, FACE_CROP_CONTEXT, FACE_CROP_PX)


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
    eye_skin_share: float | None = None
    head_cover_share: float | None = None
    mouth_redness: float | None = None
    # The face aligned on its eyes, shrunk to a small grey square (``checks.likeness``).
    face_signature: str | None = None
    # dlib's ResNet descriptor: measured only when asked for (see ``lacks_descriptor``).
    descriptor: tuple[float, ...] | None = None
    # SFace's feature (unit length), base64 of 128 float32 (``checks.face.encode_feature``).
    sface_feature: str | None = None
    # Only when no face is found: sharpness of the whole photo at the same canonical width.
    photo_sharpness: float | None = None
    # Blur width (FWHM) of the face's edges, in face widths: the sharpest quarter of its strong
    # edges, and the same in the orientation whose edges are widest (motion blur); and the first in
    # px where measured (the face at most quality.SPREAD_FACE_PX wide). See ``quality.edge_spread``.
    edge_spread: float | None = None
    edge_spread_widest: float | None = None
    edge_spread_px: float | None = None
    # Pixel noise and luma contrast (standard deviations, grey levels) of the face at the same scale.
    face_noise: float | None = None
    face_contrast: float | None = None
    # JPEG block edges on the face as stored: steps across the 8x8 grid over steps inside it
    # (``quality.block_artifacts``); about 1 unless compression has turned the face into blocks.
    block_artifacts: float | None = None
    # The hand landmark model's certainty for the most certain hand lying over the face, 0..1
    # (``checks.hands``); 0.0 when no hand is there.
    hand_over_face: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_part(self, part: str, source: PhotoMeasurement) -> PhotoMeasurement:
        """This measurement with ``part``'s fields taken from ``source``."""
        return replace(self, **{name: getattr(source, name) for name in PART_FIELDS[part]})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhotoMeasurement:
        values = dict(data)
        for key in ("face_box", "landmarks", "descriptor"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


PART_FIELDS: dict[str, tuple[str, ...]] = {
    "faces": (
        "width_px",
        "height_px",
        "face_count",
        "detection_score",
        "face_box",
        "face_width_px",
        "landmarks",
        "inter_eye_px",
        "descriptor",
        "sface_feature",
    ),
    "clarity": (
        "sharpness",
        "mean_luma",
        "dark_share",
        "bright_share",
        "photo_sharpness",
        "edge_spread",
        "edge_spread_widest",
        "edge_spread_px",
        "face_noise",
        "face_contrast",
        "block_artifacts",
    ),
    "occlusion": (
        "mouth_nose_skin_share",
        "forehead_skin_share",
        "eye_skin_luma_ratio",
        "eyes_seen",
        "eye_skin_share",
        "head_cover_share",
        "mouth_redness",
    ),
    "likeness": ("face_signature",),
    "hands": ("hand_over_face",),
}
assert sorted(n for names in PART_FIELDS.values() for n in names) == sorted(f.name for f in fields(PhotoMeasurement))


def _clip_box(box: face_adapter.FaceBox, w: int, h: int) -> tuple[int, int, int, int]:
    left = max(0, int(np.floor(box.left)))
    top = max(0, int(np.floor(box.top)))
    right = min(w, int(np.ceil(box.right)))
    bottom = min(h, int(np.ceil(box.bottom)))
    return left, top, right, bottom


def measure_photo(
    rgb: npt.NDArray[np.uint8],
    reuse: PhotoMeasurement | None = None,
    parts: frozenset[str] = frozenset(),
    dlib: bool = False,
) -> PhotoMeasurement:
    """Measure an RGB ``uint8`` image of shape (h, w, 3).

    ``reuse``: an earlier measurement of the same photo whose ``parts`` (see
    ``reusable_parts``) are still current; those are taken from it, the rest
    measured. Without the faces part, the faces are measured again, and the
    other parts are kept only if the face box and landmarks came out the same.

    ``dlib``: also measure dlib's descriptor of the face (see ``lacks_descriptor``);
    a reused faces part without one gets it added.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image, got shape {rgb.shape} dtype {rgb.dtype}")
    crop: FaceCrop | None = None  # the face crop, made once for the parts that read it
    if reuse is None or "faces" not in parts:
        found, crop = _measure_faces(rgb, dlib)
        if reuse is None or not _same_geometry(found, reuse):
            parts = frozenset()
    else:
        found = reuse
        if dlib and lacks_descriptor(found):
            crop = _crop_of(rgb, found)
            found = replace(found, descriptor=_dlib_descriptor(found, crop))
    if "faces" not in parts and parts:
        reused = reuse  # the same geometry: the other parts' fields come from the earlier measurement
        assert reused is not None
        found = reused.with_part("faces", found)
    grey = quality.to_grey(rgb)
    clarity = found if "clarity" in parts else _measure_clarity(grey, found)
    if crop is None and not {"occlusion", "likeness"} <= parts:
        crop = _crop_of(rgb, found)
    occluded = found if "occlusion" in parts else _measure_occlusion(found, crop)
    liked = found if "likeness" in parts else _measure_likeness(found, crop)
    handed = found if "hands" in parts else _measure_hands(rgb, found)
    return (
        found.with_part("clarity", clarity)
        .with_part("occlusion", occluded)
        .with_part("likeness", liked)
        .with_part("hands", handed)
    )


def lacks_descriptor(m: PhotoMeasurement | Mapping[str, Any]) -> bool:
    """True when a face was found and landmarked but dlib's descriptor was not measured.

    The descriptor costs about 100 ms a face, two thirds of all the checks, and
    only the ``dlib`` and ``fused`` match models read it: it is measured when
    asked for (``measure_photo(..., dlib=True)``) and added to a stored
    measurement that lacks it when a policy needs it. With landmarks the
    encoder always gives a descriptor, so a missing one was not asked for.
    """
    if isinstance(m, PhotoMeasurement):
        return bool(m.face_count) and m.landmarks is not None and m.descriptor is None
    return bool(m.get("face_count")) and m.get("landmarks") is not None and m.get("descriptor") is None


def _dlib_descriptor(m: PhotoMeasurement, crop: FaceCrop | None) -> tuple[float, ...] | None:
    """dlib's descriptor of the face ``m`` found (on ``crop``, the crop around it)."""
    box = _face_box(m)
    if crop is None or box is None:
        return None
    _eyes, shape = face_adapter.landmarks(crop.pixels, crop.from_original(box))
    return tuple(float(v) for v in face_adapter.dlib_descriptor(crop.pixels, shape))


def _measure_faces(rgb: npt.NDArray[np.uint8], dlib: bool = False) -> tuple[PhotoMeasurement, FaceCrop | None]:
    """The faces part (with dlib's descriptor if ``dlib``), and the crop around the face found (None without one)."""
    h, w = rgb.shape[:2]
    work, detections = find_faces(rgb)
    if not detections:
        return PhotoMeasurement(width_px=w, height_px=h, face_count=0), None
    best = detections[0]
    box = work.to_original(best)
    crop = face_crop(rgb, box)
    eyes, shape = face_adapter.landmarks(crop.pixels, crop.from_original(box))
    descriptor = face_adapter.dlib_descriptor(crop.pixels, shape) if dlib else None
    feature = face_adapter.sface_feature(rgb, box)
    found = PhotoMeasurement(
        width_px=w,
        height_px=h,
        face_count=len(detections),
        detection_score=best.score,
        face_box=(box.left, box.top, box.right, box.bottom),
        face_width_px=box.width,
        landmarks=tuple(
            v for point in (eyes.right_eye, eyes.left_eye, eyes.nose_tip) for v in crop.point_to_original(point)
        ),
        inter_eye_px=eyes.inter_eye_px / crop.scale,
        descriptor=None if descriptor is None else tuple(float(v) for v in descriptor),
        sface_feature=None if feature is None else face_adapter.encode_feature(feature),
    )
    return found, crop


def _face_box(m: PhotoMeasurement) -> face_adapter.FaceBox | None:
    if not m.face_count or m.face_box is None:
        return None
    return face_adapter.FaceBox(*m.face_box, score=m.detection_score or 0.0)


def _measure_clarity(grey: npt.NDArray[np.uint8], m: PhotoMeasurement) -> PhotoMeasurement:
    """Sharpness and exposure of the face region; of the whole photo when no face was found."""
    h, w = grey.shape[:2]
    box = _face_box(m)
    if box is None:
        whole = quality.exposure(grey)
        return PhotoMeasurement(
            width_px=w,
            height_px=h,
            face_count=0,
            mean_luma=whole.mean_luma,
            dark_share=whole.dark_share,
            bright_share=whole.bright_share,
            photo_sharpness=quality.sharpness(grey) if min(h, w) >= 4 else None,
        )
    left, top, right, bottom = _clip_box(box, w, h)
    region = grey[top:bottom, left:right]
    if region.shape[0] < 4 or region.shape[1] < 4:
        region = grey
    exp = quality.exposure(region)
    # Edges and noise are measured on the face at most quality.SPREAD_FACE_PX wide; not on the
    # whole photo that stands in for a face box too small to measure.
    spread: quality.EdgeSpread | None = None
    texture: quality.Grain | None = None
    if region is not grey:
        canon, canon_face_px = quality.canonical_face(region, box.width)
        spread = quality.edge_spread(canon, canon_face_px) if min(canon.shape[:2]) >= 8 else None
        texture = quality.grain(canon)
    return PhotoMeasurement(
        width_px=w,
        height_px=h,
        face_count=m.face_count,
        sharpness=quality.sharpness(region),
        mean_luma=exp.mean_luma,
        dark_share=exp.dark_share,
        bright_share=exp.bright_share,
        edge_spread=None if spread is None else spread.share,
        edge_spread_widest=None if spread is None else spread.widest_share,
        edge_spread_px=None if spread is None else spread.blur_px,
        face_noise=None if texture is None else texture.noise,
        face_contrast=None if texture is None else texture.contrast,
        block_artifacts=None if region is grey else quality.block_artifacts(region, left, top),
    )


def _crop_of(rgb: npt.NDArray[np.uint8], m: PhotoMeasurement) -> FaceCrop | None:
    """The crop around the face ``m`` found, for the parts measured on it; None without a face and landmarks."""
    box = _face_box(m)
    return None if box is None or m.landmarks is None else face_crop(rgb, box)


def _measure_occlusion(m: PhotoMeasurement, crop: FaceCrop | None) -> PhotoMeasurement:
    if crop is None or m.landmarks is None:
        return PhotoMeasurement(width_px=m.width_px, height_px=m.height_px, face_count=m.face_count)
    right_eye, left_eye, nose_tip = (crop.point_from_original(m.landmarks[i : i + 2]) for i in (0, 2, 4))
    return with_occlusion(m, occlusion.measure_occlusion(crop.pixels, right_eye, left_eye, nose_tip, crop.inside))


def with_occlusion(m: PhotoMeasurement, occ: occlusion.OcclusionMeasurement) -> PhotoMeasurement:
    """A measurement of ``m``'s size and face count whose occlusion part is ``occ``."""
    values = {name: getattr(occ, name) for name in PART_FIELDS["occlusion"]}
    return PhotoMeasurement(width_px=m.width_px, height_px=m.height_px, face_count=m.face_count, **values)


def _measure_hands(rgb: npt.NDArray[np.uint8], m: PhotoMeasurement) -> PhotoMeasurement:
    """A hand over the face (``checks.hands``), looked for around the face box found."""
    value = hands.hand_over_face(rgb, m.face_box) if m.face_box is not None and m.face_count else None
    return PhotoMeasurement(width_px=m.width_px, height_px=m.height_px, face_count=m.face_count, hand_over_face=value)


def _measure_likeness(m: PhotoMeasurement, crop: FaceCrop | None) -> PhotoMeasurement:
    """The face's signature, drawn from the face crop (the same scale whatever the photo's size)."""
    signature = None
    if crop is not None and m.landmarks is not None:
        right_eye, left_eye = (crop.point_from_original(m.landmarks[i : i + 2]) for i in (0, 2))
        signature = likeness.face_signature(quality.to_grey(crop.pixels), right_eye, left_eye)
    return PhotoMeasurement(
        width_px=m.width_px, height_px=m.height_px, face_count=m.face_count, face_signature=signature
    )
