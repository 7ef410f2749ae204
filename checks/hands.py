"""A hand over the face: MediaPipe's palm detector and hand landmark model, read through OpenCV's
own TFLite importer (``cv2.dnn.readNetFromTFLite``).

A hand has the face's own skin colour, so the colour measures of ``checks.occlusion`` cannot see it;
a model trained on hands can. Two stages, as MediaPipe's own hand tracking does it:

1. Palms, on a square of ``CROP_CONTEXT`` times the face box around the face (the photo's outside
   zero-padded), resampled to the palm model's 192 px: SSD anchors on strides 8, 16, 16, 16, two per
   layer and cell (2,016), boxes decoded relative to their anchor, scores a sigmoid, overlapping boxes
   merged by score-weighted averaging.
2. Each palm scoring at least ``PALM_MIN_SCORE`` is checked by the hand landmark model on a square
   turned along the hand (wrist to middle finger), 2.6 times the palm and moved half a palm towards
   the fingers; the model says how sure it is that a hand is there (0..1) and where its 21 points are.

The measure is that certainty for the most certain hand whose landmarks' box lies at least
``MIN_INSIDE`` inside the face box (widened by ``FACE_MARGIN``): a hand at the face, not beside it.
0.0 when there is none. Numbers only; the policy decides.

The model files ship inside the pinned ``mediapipe`` wheel (Apache-2.0; ``licenses/``); only the two
files are used, their sha256 checked before they are loaded; no MediaPipe code runs.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from checks.face import ModelFileError, verify_model_file

HANDS_VERSION = "hands-1"
HAND_MODEL_FILES: dict[str, tuple[str, str]] = {
    "palm": (
        "modules/palm_detection/palm_detection_full.tflite",
        "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
    ),
    "landmarks": (
        "modules/hand_landmark/hand_landmark_full.tflite",
        "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
    ),
}
# The square the palms are looked for in: 2.5 face boxes wide around the face. Measured on
# ../shared/faces with 2.0, 2.5 and 3.0: 2.5 alone finds as many hands over the face (9 of 17) as 2.0
# and 2.5 together, and the whole photo or a 3.0 square add palms on clear photos (hands in the lap,
# a chin in a tight crop).
CROP_CONTEXT = 2.5
PALM_PX = 192
LANDMARK_PX = 224
PALM_MIN_SCORE = 0.5  # the palm model's own operating point
FACE_MARGIN = 1.2  # the face box widened by this much on each axis
MIN_INSIDE = 0.3  # share of the hand's box that must lie inside it
_STRIDES = (8, 16, 16, 16)
_MERGE_IOU = 0.3


def _anchors() -> npt.NDArray[np.float32]:
    """Anchor centres (x, y in 0..1) in the palm model's output order: layers sharing a stride share
    one grid, each cell holding two anchors per layer."""
    centres: list[tuple[float, float]] = []
    i = 0
    while i < len(_STRIDES):
        layers = sum(1 for s in _STRIDES[i:] if s == _STRIDES[i])
        grid = math.ceil(PALM_PX / _STRIDES[i])
        for y in range(grid):
            for x in range(grid):
                centres.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * (2 * layers))
        i += layers
    return np.asarray(centres, dtype=np.float32)


ANCHORS = _anchors()
assert ANCHORS.shape == (2016, 2)


def model_folder() -> Path:
    """The mediapipe package's folder, found without importing the package."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError("the mediapipe package (which ships the hand model files) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


class _Nets:
    """The two networks, loaded once per thread (an OpenCV network is not shared between threads)."""

    _local: ClassVar[threading.local] = threading.local()

    @classmethod
    def get(cls, name: str) -> Any:
        nets = getattr(cls._local, "nets", None)
        if nets is None:
            nets = cls._local.nets = {}
        if name not in nets:
            import cv2

            relative, sha256 = HAND_MODEL_FILES[name]
            path = model_folder() / relative
            verify_model_file(path, sha256)
            net = cv2.dnn.readNetFromTFLite(str(path))
            nets[name] = (net, net.getUnconnectedOutLayersNames())
        return nets[name]


def _run(name: str, pixels: npt.NDArray[Any]) -> dict[str, npt.NDArray[np.float32]]:
    net, outputs = _Nets.get(name)
    blob = (pixels.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()  # RGB in 0..1, NCHW
    net.setInput(blob)
    return dict(zip(outputs, net.forward(outputs), strict=True))


def _iou(box: npt.NDArray[np.float64], others: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    w = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = w * h
    area = (box[2] - box[0]) * (box[3] - box[1]) + (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return np.asarray(inter / np.maximum(area - inter, 1e-9))


def palms(square: npt.NDArray[Any]) -> list[tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """Palms in a ``PALM_PX`` square RGB image: (score, box x0 y0 x1 y1, 7 key points), in its pixels."""
    out = _run("palm", square)
    boxes = scores = None
    for value in out.values():
        if value.shape[-1] == 18:
            boxes = value.reshape(-1, 18).astype(np.float64)
        else:
            scores = 1.0 / (1.0 + np.exp(-np.clip(value.reshape(-1).astype(np.float64), -100, 100)))
    assert boxes is not None and scores is not None
    keep = (scores >= PALM_MIN_SCORE) & np.isfinite(boxes).all(axis=1)
    if not keep.any():
        return []
    raw, anchor, score = boxes[keep] / PALM_PX, ANCHORS[keep].astype(np.float64), scores[keep]
    cx, cy = raw[:, 0] + anchor[:, 0], raw[:, 1] + anchor[:, 1]
    box = np.stack([cx - raw[:, 2] / 2, cy - raw[:, 3] / 2, cx + raw[:, 2] / 2, cy + raw[:, 3] / 2], axis=1)
    points = raw[:, 4:].reshape(-1, 7, 2) + anchor[:, None, :]
    order = np.argsort(-score)
    box, points, score = box[order], points[order], score[order]
    found = []
    left = np.arange(len(score))
    while left.size:
        group = left[_iou(box[left[0]], box[left]) > _MERGE_IOU]
        group = group if group.size else left[:1]
        weight = score[group][:, None]
        merged = (box[group] * weight).sum(axis=0) / weight.sum()
        kps = (points[group] * weight[:, :, None]).sum(axis=0) / weight.sum()
        found.append((float(score[left[0]]), merged * PALM_PX, kps * PALM_PX))
        left = np.setdiff1d(left, group, assume_unique=True)
    return found


def _hand(
    rgb: npt.NDArray[np.uint8], box: npt.NDArray[np.float64], kps: npt.NDArray[np.float64]
) -> tuple[float, npt.NDArray[np.float64]]:
    """The landmark model's certainty that a hand is at the palm ``box`` (photo pixels), and its 21 points."""
    import cv2

    width, height = box[2] - box[0], box[3] - box[1]
    (wx, wy), (mx, my) = kps[0], kps[2]  # the wrist and the middle finger's base
    turn = math.pi / 2 - math.atan2(wy - my, mx - wx)
    turn = (turn + math.pi) % (2 * math.pi) - math.pi
    cx = (box[0] + box[2]) / 2 + 0.5 * height * math.sin(turn)
    cy = (box[1] + box[3]) / 2 - 0.5 * height * math.cos(turn)
    side = 2.6 * max(width, height)
    c, s, k = math.cos(turn), math.sin(turn), side / LANDMARK_PX
    to_photo = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]])
    to_photo[:, 2] = np.array([cx, cy]) - to_photo[:, :2] @ np.array([LANDMARK_PX / 2, LANDMARK_PX / 2])
    square = cv2.warpAffine(rgb, to_photo, (LANDMARK_PX, LANDMARK_PX), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)
    out = _run("landmarks", square)
    presence = float(out["Identity_1"].ravel()[0])
    points = out["Identity"].reshape(21, 3)[:, :2].astype(np.float64)
    return presence, points @ to_photo[:, :2].T + to_photo[:, 2]


def hand_over_face(rgb: npt.NDArray[np.uint8], face_box: tuple[float, float, float, float]) -> float:
    """The landmark model's certainty for the most certain hand lying over the face (0.0: none)."""
    import cv2

    left, top, right, bottom = face_box
    side = CROP_CONTEXT * max(right - left, bottom - top)
    if side <= 1:
        return 0.0
    x0, y0 = (left + right) / 2 - side / 2, (top + bottom) / 2 - side / 2
    native = max(1, round(side))
    shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]])
    crop = cv2.warpAffine(rgb, shift, (native, native), flags=cv2.INTER_LINEAR)  # outside: zeros
    scale = PALM_PX / native
    square = cv2.resize(crop, (PALM_PX, PALM_PX), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    mx, my = (right - left) * (FACE_MARGIN - 1) / 2, (bottom - top) * (FACE_MARGIN - 1) / 2
    face = (left - mx, top - my, right + mx, bottom + my)
    best = 0.0
    for _score, box, kps in palms(square):
        presence, points = _hand(rgb, box / scale + [x0, y0, x0, y0], kps / scale + [x0, y0])
        hx0, hy0 = points.min(axis=0)
        hx1, hy1 = points.max(axis=0)
        area = max((hx1 - hx0) * (hy1 - hy0), 1e-6)
        inside = max(0.0, min(hx1, face[2]) - max(hx0, face[0])) * max(0.0, min(hy1, face[3]) - max(hy0, face[1]))
        if inside / area >= MIN_INSIDE:
            best = max(best, presence)
    return round(best, 4)
