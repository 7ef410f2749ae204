"""The policy: thresholds and verdicts as versioned data.

A policy is one TOML document. Every threshold must be written in it: the code
holds no default thresholds, so what a run applied is exactly what its policy
file (recorded by name, version and sha256) says. This module validates its parsed form (a dict)
and never reads files; ``scanner.policyfile`` reads the file and records its
hash. Unknown keys, wrong types and impossible ranges are errors that name the
key.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PHOTO_KINDS = ("id_portrait", "live", "handheld")
PhotoKind = Literal["id_portrait", "live", "handheld"]


class Severity(StrEnum):
    FAIL = "fail"
    REVIEW = "review"
    IGNORE = "ignore"


class ReasonCode(StrEnum):
    NO_PHOTO = "NO_PHOTO"
    UNREADABLE_PHOTO = "UNREADABLE_PHOTO"
    NO_FACE = "NO_FACE"
    MULTIPLE_FACES = "MULTIPLE_FACES"
    FACE_TOO_SMALL = "FACE_TOO_SMALL"
    BLURRY = "BLURRY"
    TOO_DARK = "TOO_DARK"
    TOO_BRIGHT = "TOO_BRIGHT"
    EYES_OCCLUDED = "EYES_OCCLUDED"
    MOUTH_NOSE_OCCLUDED = "MOUTH_NOSE_OCCLUDED"
    HEAD_COVERED = "HEAD_COVERED"
    HAND_OVER_FACE = "HAND_OVER_FACE"
    FACE_MISMATCH = "FACE_MISMATCH"
    FACE_MATCH_UNCERTAIN = "FACE_MATCH_UNCERTAIN"
    LIVE_IS_COPY = "LIVE_IS_COPY"
    ID_EXPIRED = "ID_EXPIRED"
    ID_NUMBER_INVALID = "ID_NUMBER_INVALID"
    ID_LEGACY_NUMBER = "ID_LEGACY_NUMBER"
    ID_TOO_MANY_NUMBERS = "ID_TOO_MANY_NUMBERS"
    FACE_UNDER_OTHER_ID = "FACE_UNDER_OTHER_ID"


_SEVERITY_BY_NAME = {s.value: s for s in Severity}
DEFAULT_SEVERITY: dict[ReasonCode, Severity] = {
    **{code: Severity.FAIL for code in ReasonCode},
    ReasonCode.FACE_MATCH_UNCERTAIN: Severity.REVIEW,
    ReasonCode.ID_LEGACY_NUMBER: Severity.REVIEW,
    ReasonCode.HEAD_COVERED: Severity.REVIEW,  # attire: a person looks unless the policy says fail
    # Which numbers to keep is the subscriber's choice, made through re-verification, never the tool's.
    ReasonCode.ID_TOO_MANY_NUMBERS: Severity.REVIEW,
    # Twins, and a photo reused by the operator's own staff at enrolment, are innocent causes.
    ReasonCode.FACE_UNDER_OTHER_ID: Severity.REVIEW,
}


class PolicyError(ValueError):
    """A policy document that cannot be used; the message names each bad key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class PolicyMeta(_Strict):
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    timezone: str = "Asia/Shanghai"

    @model_validator(mode="after")
    def _check(self) -> PolicyMeta:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone name") from None
        return self


class PhotoRules(_Strict):
    required: tuple[PhotoKind, ...]
    max_faces: dict[PhotoKind, int]
    # Folders (absolute paths) and URL prefixes photos may be read from; empty: the import file's folder.
    roots: tuple[str, ...] = ()

    @field_validator("roots")
    @classmethod
    def _roots(cls, roots: tuple[str, ...]) -> tuple[str, ...]:
        for root in roots:
            scheme, sep, rest = root.partition("://")
            if sep and scheme.lower() != "file":
                if not rest.split("/", 1)[0] or "::" in root:
                    raise ValueError(f"{root!r} is a URL without a host (or a chained one)")
            elif not (rest if sep else root).startswith("/"):
                raise ValueError(f"{root!r} must be an absolute folder path or a URL prefix")
        return roots

    @model_validator(mode="after")
    def _check(self) -> PhotoRules:
        unset = [k for k in PHOTO_KINDS if k not in self.max_faces]
        if unset:
            raise ValueError(f"max_faces must give every photo kind; missing {', '.join(unset)}")
        for kind, n in self.max_faces.items():
            if n < 1:
                raise ValueError(f"max_faces.{kind} must be at least 1, got {n}")
        return self


class FaceRules(_Strict):
    min_inter_eye_px: float = Field(gt=0)


class ClarityRules(_Strict):
    min_sharpness: float = Field(ge=0)
    # The whole photo, judged only when no face is found (a blurred face may not be found at all).
    min_photo_sharpness: float = Field(ge=0)
    # Blur width of the face's edges (``checks.quality.edge_spread``), in face widths: all
    # orientations, and the orientation whose edges are widest (motion blur). Either at or above
    # its bound is BLURRY, provided the blur is at least ``min_edge_spread_px`` wide in pixels
    # (narrower is the pixel grid's own, which a small sharp face has).
    max_edge_spread: float = Field(gt=0, le=1)
    max_edge_spread_widest: float = Field(gt=0, le=1)
    min_edge_spread_px: float = Field(ge=0)
    # JPEG blocks on the face (``checks.quality.block_artifacts``): steps across the 8x8 grid over
    # steps inside it; at or above this the face is a mosaic of blocks, and BLURRY.
    max_block_artifacts: float = Field(gt=1)


class ExposureRules(_Strict):
    min_mean_luma: float = Field(ge=0, le=255)
    max_mean_luma: float = Field(ge=0, le=255)
    # A dim face (mean luma below ``dim_max_mean_luma``) whose luma spread is less than
    # ``dim_min_face_snr`` times its pixel noise is TOO_DARK too: a camera's gain lifted it, and its
    # features are lost in the noise.
    dim_max_mean_luma: float = Field(ge=0, le=255)
    dim_min_face_snr: float = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> ExposureRules:
        if self.min_mean_luma >= self.max_mean_luma:
            raise ValueError(f"min_mean_luma ({self.min_mean_luma}) must be below max_mean_luma ({self.max_mean_luma})")
        if not self.min_mean_luma <= self.dim_max_mean_luma < self.max_mean_luma:
            raise ValueError(
                f"dim_max_mean_luma ({self.dim_max_mean_luma}) must be from min_mean_luma ({self.min_mean_luma}) "
                f"up to below max_mean_luma ({self.max_mean_luma})"
            )
        return self


class OcclusionRules(_Strict):
    """Per-region occlusion, from ``checks.occlusion`` measurements."""

    min_mouth_nose_skin_share: float = Field(ge=0, le=1)
    # Redness (Cr - Cb) of the mouth's reddest pixels over the skin's: lips are redder, a mask is not.
    min_mouth_redness: float = Field(ge=-255, le=255)
    min_eye_skin_luma_ratio: float = Field(ge=0, le=2)
    # When the eye detector sees neither eye, a milder darkening suffices.
    unseen_eyes_min_luma_ratio: float = Field(ge=0, le=2)
    # Share of the eye boxes with the face's skin chroma (lenses cover the eyelids too).
    min_eye_skin_share: float = Field(ge=0, le=1)
    # Share of the band above the brows covered by neither skin nor hair (a hat, a scarf).
    max_head_cover_share: float = Field(ge=0, le=1)
    # The hand landmark model's certainty that a hand lies over the face (``checks.hands``).
    max_hand_presence: float = Field(ge=0, le=1)


class DlibBands(_Strict):
    """dlib's ResNet descriptors: Euclidean ``face_distance``, smaller is more alike."""

    match_max_distance: float = Field(gt=0, lt=2)
    mismatch_above_distance: float = Field(gt=0, lt=2)

    @model_validator(mode="after")
    def _check(self) -> DlibBands:
        if self.match_max_distance > self.mismatch_above_distance:
            raise ValueError(
                f"match_max_distance ({self.match_max_distance}) must not exceed "
                f"mismatch_above_distance ({self.mismatch_above_distance})"
            )
        return self


class SfaceBands(_Strict):
    """SFace's features: ``face_cosine``, larger is more alike."""

    match_min_cosine: float = Field(gt=-1, lt=1)
    mismatch_below_cosine: float = Field(gt=-1, lt=1)

    @model_validator(mode="after")
    def _check(self) -> SfaceBands:
        if self.match_min_cosine < self.mismatch_below_cosine:
            raise ValueError(
                f"match_min_cosine ({self.match_min_cosine}) must not be below "
                f"mismatch_below_cosine ({self.mismatch_below_cosine})"
            )
        return self


class FusedBands(_Strict):
    """Both models: ``face_fused`` (``checks.face.fused_score``), larger is more alike."""

    match_min_score: float = Field(gt=-1, lt=1)
    mismatch_below_score: float = Field(gt=-1, lt=1)

    @model_validator(mode="after")
    def _check(self) -> FusedBands:
        if self.match_min_score < self.mismatch_below_score:
            raise ValueError(
                f"match_min_score ({self.match_min_score}) must not be below "
                f"mismatch_below_score ({self.mismatch_below_score})"
            )
        return self


MatchModel = Literal["sface", "dlib", "fused"]
MATCH_MODELS: tuple[MatchModel, ...] = ("sface", "dlib", "fused")


class MatchRules(_Strict):
    """Face match bands of the chosen ``model``: a match, a mismatch, or in between (review).

    ``model`` names the recognizer whose score is judged: ``sface`` (cosine of
    SFace features), ``dlib`` (distance of dlib's descriptors) or ``fused``
    (both, ``checks.face.fused_score``). The table of that model's bands must be
    written; the others may be, for ``realname calibrate`` to report on.

    At or above ``copy_min_likeness`` (``checks.likeness``) the two photos are one
    capture (the same file, or it re-encoded, resized or cropped), not two: a live
    photo must be taken anew.
    """

    model: MatchModel
    copy_min_likeness: float = Field(gt=0, le=1)
    compare: tuple[tuple[PhotoKind, PhotoKind], ...]
    sface: SfaceBands | None = None
    dlib: DlibBands | None = None
    fused: FusedBands | None = None

    @model_validator(mode="after")
    def _check(self) -> MatchRules:
        if getattr(self, self.model) is None:
            raise ValueError(f'model = "{self.model}" needs its bands: a [checks.match.{self.model}] table')
        for a, b in self.compare:
            if a == b:
                raise ValueError(f"compare pair ({a}, {b}) compares a photo with itself")
        return self


class IdRules(_Strict):
    expiry_grace_days: int = Field(ge=0, le=3650)


class BaseRules(_Strict):
    """Signals that need the whole base at once."""

    # MIIT (2016): one person holds at most five mobile numbers at one operator.
    max_numbers_per_id: int = Field(default=5, ge=1, le=100)
    # Two faces of different ID numbers at most this SFace cosine distance (1 - cosine) apart are taken
    # for one person's (FACE_UNDER_OTHER_ID). It must hold over the whole base, so it is far stricter
    # than the match band of one subscriber's own photos; `realname calibrate` reports it.
    same_face_max_distance: float = Field(default=0.20, gt=0, lt=1)


class Checks(_Strict):
    face: FaceRules
    clarity: ClarityRules
    exposure: ExposureRules
    occlusion: OcclusionRules
    match: MatchRules
    id: IdRules
    base: BaseRules = BaseRules()


class Policy(_Strict):
    policy: PolicyMeta
    photos: PhotoRules
    checks: Checks
    severity: dict[str, Literal["fail", "review", "ignore"]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Policy:
        known = {code.value for code in ReasonCode}
        for code in self.severity:
            if code not in known:
                raise ValueError(f"severity.{code}: unknown reason code (known: {', '.join(sorted(known))})")
        return self

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def version(self) -> str:
        return self.policy.version

    def severity_of(self, code: ReasonCode) -> Severity:
        chosen = self.severity.get(code)  # a StrEnum member finds its own string key
        return DEFAULT_SEVERITY[code] if chosen is None else _SEVERITY_BY_NAME[chosen]


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _lists_to_tuples(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _lists_to_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_lists_to_tuples(v) for v in value)
    return value


def parse_policy(document: Mapping[str, Any]) -> Policy:
    """Validate a parsed policy document; raise ``PolicyError`` naming each bad key.

    Validation is strict: a threshold written as a string is an error, not
    silently converted. TOML arrays arrive as lists and are read as tuples.
    """
    try:
        return Policy.model_validate(_lists_to_tuples(document))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = _location(err["loc"])
            if err["type"] == "extra_forbidden":
                lines.append(f"{where}: unknown key")
            else:
                lines.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
        raise PolicyError("; ".join(lines)) from None
