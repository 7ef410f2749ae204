"""Turn measurements into a verdict with reasons, under a policy.

Every reason carries its evidence: what was measured, the value, the threshold
it was compared with, and which photo it concerns. ``today`` is a parameter;
nothing here reads a clock, a file or a database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from checks.face import decode_feature, face_cosine, face_distance, fused_score
from checks.idcard import IdNumberMeasurement
from checks.likeness import likeness
from checks.photo import PhotoMeasurement
from checks.policy import MatchRules, Policy, ReasonCode, Severity


class Verdict(StrEnum):
    PASS = "pass"
    REVIEW = "review"
    FAIL = "fail"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    severity: Severity
    photo_kind: str | None = None
    measure: str | None = None
    value: float | str | None = None
    threshold: float | str | None = None
    comparison: str | None = None  # how value relates to threshold when this fired, e.g. "<"
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Written out rather than dataclasses.asdict: a re-judge of the base calls this millions of times.
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "photo_kind": self.photo_kind,
            "measure": self.measure,
            "value": self.value,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class PhotoInput:
    """One stored photo as the judge sees it: measured, unreadable, or absent."""

    kind: str
    measurement: PhotoMeasurement | None = None
    error: str | None = None  # why it could not be read, if it could not


@dataclass(frozen=True)
class SameFace:
    """The face of another subscriber, under another ID number, nearest to one of this subscriber's
    faces (found across the base by ``scanner.faceindex``)."""

    distance: float  # SFace cosine distance, 1 - cosine
    photo_kind: str  # this subscriber's photo
    other_account: str  # the other subscriber's account id
    other_msisdn: str  # masked
    other_photo_kind: str
    others: int = 1  # subscribers of other ID numbers within the bound, this one included


@dataclass(frozen=True)
class SubjectInput:
    id_number: IdNumberMeasurement
    id_expires_on: dt.date | None  # None: long-term validity (长期)
    photos: Mapping[str, PhotoInput] = field(default_factory=dict)
    # Numbers the base holds under this person's ID number (both forms counted together), when known.
    numbers_on_id: int | None = None
    # The nearest face of another ID number in the base, when one is within the policy's bound.
    same_face: SameFace | None = None


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reasons: tuple[Reason, ...]
    distances: Mapping[str, float]

    @property
    def codes(self) -> list[str]:
        return sorted({r.code.value for r in self.reasons})


def _photo_reasons(kind: str, photo: PhotoInput | None, policy: Policy) -> list[tuple[ReasonCode, dict[str, Any]]]:
    if photo is None:
        if kind in policy.photos.required:
            return [(ReasonCode.NO_PHOTO, {"detail": f"no {kind} photo on file"})]
        return []
    if photo.measurement is None:
        return [(ReasonCode.UNREADABLE_PHOTO, {"detail": photo.error or "unreadable"})]
    m = photo.measurement
    if m.face_count == 0:
        # Exposure and sharpness were measured on the whole photo: a photo too
        # dark, too bright or too blurred to find a face in says so, not only "no face".
        found = [
            (ReasonCode.NO_FACE, {"measure": "face_count", "value": 0, "threshold": 1, "comparison": "<"}),
            *_exposure_reasons(m, policy, "photo_mean_luma"),
        ]
        blurred = _below("photo_sharpness", m.photo_sharpness, policy.checks.clarity.min_photo_sharpness, 1)
        if blurred:
            found.append((ReasonCode.BLURRY, blurred))
        return found
    out: list[tuple[ReasonCode, dict[str, Any]]] = []
    max_faces = policy.photos.max_faces[kind]  # type: ignore[index]
    if m.face_count > max_faces:
        out.append(
            (
                ReasonCode.MULTIPLE_FACES,
                {"measure": "face_count", "value": m.face_count, "threshold": max_faces, "comparison": ">"},
            )
        )
    rules = policy.checks
    small = _below("inter_eye_px", m.inter_eye_px, rules.face.min_inter_eye_px, 1)
    if small:
        out.append((ReasonCode.FACE_TOO_SMALL, small))
    blurred = (
        _below("sharpness", m.sharpness, rules.clarity.min_sharpness, 1)
        or _spread_evidence(m, policy)
        or _blocks_evidence(m, policy)
    )
    if blurred:
        out.append((ReasonCode.BLURRY, blurred))
    out.extend(_exposure_reasons(m, policy, "face_mean_luma"))
    out.extend(_occlusion_reasons(m, policy))
    return out


def _spread_evidence(m: PhotoMeasurement, policy: Policy) -> dict[str, Any] | None:
    """Evidence that the face's edges are spread by blur past the policy's bound; None if they are not."""
    rules = policy.checks.clarity
    if m.edge_spread_px is None or m.edge_spread_px < rules.min_edge_spread_px:
        return None  # not measured, or no wider than a sharp photo's pixels
    detail = f"blur {m.edge_spread_px:.1f} px wide where measured"
    for measure, value, bound in (
        ("edge_spread", m.edge_spread, rules.max_edge_spread),
        ("edge_spread_widest", m.edge_spread_widest, rules.max_edge_spread_widest),
    ):
        if value is not None and value >= bound:
            evidence = {"measure": measure, "value": round(value, 4), "threshold": bound}
            return {**evidence, "comparison": ">=", "detail": detail}
    return None


def face_snr(m: PhotoMeasurement) -> float | None:
    """The face's luma spread over its pixel noise; None if either was not measured.

    Noise is floored at a quarter grey level, the estimate's smallest step.
    """
    if m.face_contrast is None or m.face_noise is None:
        return None
    return m.face_contrast / max(m.face_noise, 0.25)


def _exposure_reasons(m: PhotoMeasurement, policy: Policy, measure: str) -> list[tuple[ReasonCode, dict[str, Any]]]:
    rules = policy.checks.exposure
    if m.mean_luma is None:
        return []
    if m.mean_luma < rules.min_mean_luma:
        code, threshold, comparison = ReasonCode.TOO_DARK, rules.min_mean_luma, "<"
    elif m.mean_luma > rules.max_mean_luma:
        code, threshold, comparison = ReasonCode.TOO_BRIGHT, rules.max_mean_luma, ">"
    else:
        snr = face_snr(m)
        if m.mean_luma < rules.dim_max_mean_luma and snr is not None and snr < rules.dim_min_face_snr:
            detail = (
                f"dim and grainy: mean luma {m.mean_luma:.1f} < {rules.dim_max_mean_luma}, "
                f"contrast {m.face_contrast:.1f} over noise {m.face_noise:.2f}"
            )
            evidence = {"measure": "face_snr", "value": round(snr, 2), "threshold": rules.dim_min_face_snr}
            return [(ReasonCode.TOO_DARK, {**evidence, "comparison": "<", "detail": detail})]
        return []
    return [
        (code, {"measure": measure, "value": round(m.mean_luma, 1), "threshold": threshold, "comparison": comparison})
    ]


def _below(measure: str, value: float | None, threshold: float, digits: int) -> dict[str, Any] | None:
    """Evidence that a measured ``value`` fell below ``threshold``; None if it did not or was not measured."""
    if value is None or value >= threshold:
        return None
    return {"measure": measure, "value": round(value, digits), "threshold": threshold, "comparison": "<"}


def _above(measure: str, value: float | None, threshold: float, digits: int) -> dict[str, Any] | None:
    """Evidence that a measured ``value`` rose above ``threshold``; None if it did not or was not measured."""
    if value is None or value <= threshold:
        return None
    return {"measure": measure, "value": round(value, digits), "threshold": threshold, "comparison": ">"}


def _blocks_evidence(m: PhotoMeasurement, policy: Policy) -> dict[str, Any] | None:
    """Evidence that compression turned the face into 8x8 blocks; None if it did not or was not measured."""
    bound = policy.checks.clarity.max_block_artifacts
    if m.block_artifacts is None or m.block_artifacts < bound:
        return None
    return {
        "measure": "block_artifacts",
        "value": round(m.block_artifacts, 2),
        "threshold": bound,
        "comparison": ">=",
        "detail": "JPEG compression blocks",
    }


def _occlusion_reasons(m: PhotoMeasurement, policy: Policy) -> list[tuple[ReasonCode, dict[str, Any]]]:
    rules = policy.checks.occlusion
    out: list[tuple[ReasonCode, dict[str, Any]]] = []
    mouth = _below("mouth_nose_skin_share", m.mouth_nose_skin_share, rules.min_mouth_nose_skin_share, 3) or _below(
        "mouth_redness", m.mouth_redness, rules.min_mouth_redness, 1
    )
    if mouth:
        out.append((ReasonCode.MOUTH_NOSE_OCCLUDED, mouth))
    cover = _above("head_cover_share", m.head_cover_share, rules.max_head_cover_share, 3)
    if cover:
        out.append((ReasonCode.HEAD_COVERED, cover))
    hand = _above("hand_over_face", m.hand_over_face, rules.max_hand_presence, 3)
    if hand:
        out.append((ReasonCode.HAND_OVER_FACE, hand))
    ratio = m.eye_skin_luma_ratio
    if ratio is None:
        return out
    # Milder darkening where the eye detector sees neither eye, dark eye boxes
    # alone, or eye boxes without the skin around the eyes.
    unseen = _below("eye_skin_luma_ratio", ratio, rules.unseen_eyes_min_luma_ratio, 3) if m.eyes_seen == 0 else None
    eyes = (
        (unseen and {**unseen, "detail": "the eye detector sees neither eye"})
        or _below("eye_skin_luma_ratio", ratio, rules.min_eye_skin_luma_ratio, 3)
        or _below("eye_skin_share", m.eye_skin_share, rules.min_eye_skin_share, 3)
    )
    if eyes:
        out.append((ReasonCode.EYES_OCCLUDED, eyes))
    return out


def copy_likeness(a: PhotoMeasurement | None, b: PhotoMeasurement | None) -> float | None:
    """The face likeness of two measured photos (``checks.likeness``); None when either has no signature."""
    sa = a.face_signature if a else None
    sb = b.face_signature if b else None
    return likeness(sa, sb) if sa and sb else None


def _copy_evidence(
    ma: PhotoMeasurement, mb: PhotoMeasurement, a: str, b: str, rules: MatchRules, score: str
) -> dict[str, Any] | None:
    """Evidence that photo ``b`` was made from photo ``a`` (copied, re-encoded, resized, cropped)
    rather than taken anew; None if it was not, or if either face has no signature."""
    alike = copy_likeness(ma, mb)
    if alike is None or alike < rules.copy_min_likeness:
        return None
    return {
        "measure": "face_likeness",
        "value": round(alike, 4),
        "threshold": rules.copy_min_likeness,
        "comparison": ">=",
        "detail": f"the {b} photo is the {a} photo again (re-saved, resized or cropped), not a new capture"
        + (f"; {score}" if score else ""),
    }


# The score each model's bands judge: its measure's name, and whether a larger value is more alike.
MATCH_MEASURES: dict[str, tuple[str, bool]] = {
    "sface": ("face_cosine", True),
    "dlib": ("face_distance", False),
    "fused": ("face_fused", True),
}


def needs_descriptor(policy: Policy) -> bool:
    """True when the policy's match model reads dlib's descriptor (measured only when asked for)."""
    return policy.checks.match.model in ("dlib", "fused")


def match_score(model: str, a: PhotoMeasurement, b: PhotoMeasurement) -> float | None:
    """``model``'s score of two measured faces; None when either lacks what it needs."""
    if model == "dlib":
        if a.descriptor is None or b.descriptor is None:
            return None
        return face_distance(a.descriptor, b.descriptor)
    if a.sface_feature is None or b.sface_feature is None:
        return None
    cosine = face_cosine(decode_feature(a.sface_feature), decode_feature(b.sface_feature))
    if model == "sface":
        return cosine
    if a.descriptor is None or b.descriptor is None:
        return None
    return fused_score(cosine, face_distance(a.descriptor, b.descriptor))


def match_bands(rules: MatchRules, model: str | None = None) -> tuple[float, float] | None:
    """(match, mismatch) thresholds of ``model`` (the policy's by default); None if the policy has none."""
    chosen = model or rules.model
    if chosen == "dlib":
        return None if rules.dlib is None else (rules.dlib.match_max_distance, rules.dlib.mismatch_above_distance)
    if chosen == "sface":
        return None if rules.sface is None else (rules.sface.match_min_cosine, rules.sface.mismatch_below_cosine)
    return None if rules.fused is None else (rules.fused.match_min_score, rules.fused.mismatch_below_score)


def match_band(model: str, score: float, bands: tuple[float, float]) -> str:
    """``match``, ``review`` or ``mismatch`` for ``model``'s ``score`` under ``bands`` (match, mismatch)."""
    match, mismatch = bands
    if MATCH_MEASURES[model][1]:
        return "match" if score >= match else ("review" if score >= mismatch else "mismatch")
    return "match" if score <= match else ("review" if score <= mismatch else "mismatch")


def _match_reasons(
    photos: Mapping[str, PhotoInput], policy: Policy
) -> tuple[list[tuple[ReasonCode, dict[str, Any]]], dict[str, float]]:
    rules = policy.checks.match
    model = rules.model
    measure, larger_is_alike = MATCH_MEASURES[model]
    bands = match_bands(rules)
    assert bands is not None  # the policy's validation requires the chosen model's bands
    match, mismatch = bands
    out: list[tuple[ReasonCode, dict[str, Any]]] = []
    distances: dict[str, float] = {}
    for a, b in rules.compare:
        pa, pb = photos.get(a), photos.get(b)
        ma = pa.measurement if pa else None
        mb = pb.measurement if pb else None
        if ma is None or mb is None or not ma.face_count or not mb.face_count:
            continue  # the missing or faceless photo has its own reason already
        pair = f"{a}~{b}"
        if ma.descriptor is not None and mb.descriptor is not None:
            # dlib's distance, recorded whatever the model when both descriptors were measured.
            distances[pair] = round(face_distance(ma.descriptor, mb.descriptor), 4)
        score = match_score(model, ma, mb)
        if score is not None and model != "dlib":
            distances[f"{pair}:{measure}"] = round(score, 4)  # the model's score, beside dlib's distance
        also = "" if score is None else f"{measure} {score:.4f}"
        copied = _copy_evidence(ma, mb, a, b, rules, also)
        if copied:
            out.append((ReasonCode.LIVE_IS_COPY, {"photo_kind": pair, **copied}))
            continue
        if score is None:
            # A face the recognizer could not place its landmarks on: no score, so no verdict on the match.
            out.append(
                (
                    ReasonCode.FACE_MATCH_UNCERTAIN,
                    {
                        "photo_kind": pair,
                        "measure": measure,
                        "detail": f"{model}: {_missing_features(model, ma, mb, a, b)}; a person decides",
                    },
                )
            )
            continue
        band = match_band(model, score, bands)
        worse = "<" if larger_is_alike else ">"
        if band == "mismatch":
            out.append(
                (
                    ReasonCode.FACE_MISMATCH,
                    {
                        "photo_kind": pair,
                        "measure": measure,
                        "value": round(score, 4),
                        "threshold": mismatch,
                        "comparison": worse,
                        "detail": f"model {model}",
                    },
                )
            )
        elif band == "review":
            out.append(
                (
                    ReasonCode.FACE_MATCH_UNCERTAIN,
                    {
                        "photo_kind": pair,
                        "measure": measure,
                        "value": round(score, 4),
                        "threshold": match,
                        "comparison": worse,
                        "detail": f"model {model}: between {match} and {mismatch}: a person decides",
                    },
                )
            )
    return out, distances


def _missing_features(model: str, ma: PhotoMeasurement, mb: PhotoMeasurement, a: str, b: str) -> str:
    """Which photo lacks what ``model`` compares, in words."""
    if model != "dlib" and (ma.sface_feature is None or mb.sface_feature is None):
        missing = a if ma.sface_feature is None else b
        return f"no face features on the {missing} photo (no landmarks placed)"
    missing = a if ma.descriptor is None else b
    return f"dlib's descriptor of the {missing} photo was not measured"


def _id_reasons(subject: SubjectInput, policy: Policy, today: dt.date) -> list[tuple[ReasonCode, dict[str, Any]]]:
    out: list[tuple[ReasonCode, dict[str, Any]]] = []
    idm = subject.id_number
    if not idm.valid:
        out.append((ReasonCode.ID_NUMBER_INVALID, {"measure": "id_number", "detail": "; ".join(idm.problems())}))
    elif idm.legacy:
        out.append(
            (
                ReasonCode.ID_LEGACY_NUMBER,
                {"measure": "id_number_length", "value": 15, "detail": "15-digit legacy number"},
            )
        )
    most = policy.checks.base.max_numbers_per_id
    if subject.numbers_on_id is not None and subject.numbers_on_id > most:
        out.append(
            (
                ReasonCode.ID_TOO_MANY_NUMBERS,
                {
                    "measure": "numbers_on_id",
                    "value": subject.numbers_on_id,
                    "threshold": most,
                    "comparison": ">",
                    "detail": f"{subject.numbers_on_id} numbers under this ID number (its 15- and 18-digit forms "
                    f"together); at most {most}",
                },
            )
        )
    if subject.id_expires_on is not None:
        grace = policy.checks.id.expiry_grace_days
        # Expired when the card's last valid day plus the grace days is before today.
        latest_valid = today - dt.timedelta(days=grace)
        if subject.id_expires_on < latest_valid:
            days = (today - subject.id_expires_on).days
            out.append(
                (
                    ReasonCode.ID_EXPIRED,
                    {
                        "measure": "id_expires_on",
                        "value": subject.id_expires_on.isoformat(),
                        "threshold": latest_valid.isoformat(),
                        "comparison": "<",
                        "detail": f"expired {days} days before {today.isoformat()}"
                        + (f" ({grace} days of grace)" if grace else ""),
                    },
                )
            )
    return out


def _same_face_reasons(same: SameFace | None, policy: Policy) -> list[tuple[ReasonCode, dict[str, Any]]]:
    bound = policy.checks.base.same_face_max_distance
    if same is None or same.distance > bound:
        return []
    more = f"; {same.others} accounts of other ID numbers in all" if same.others > 1 else ""
    return [
        (
            ReasonCode.FACE_UNDER_OTHER_ID,
            {
                "photo_kind": same.photo_kind,
                "measure": "same_face_distance",
                "value": round(same.distance, 4),
                "threshold": bound,
                "comparison": "<",
                "detail": f"the same face as the {same.other_photo_kind} photo of account {same.other_account} "
                f"({same.other_msisdn}), registered under another ID number{more}",
            },
        )
    ]


_SAME_FACE_DETAIL = re.compile(r"^the same face as the (\w+) photo of account (\S+) \(")


def same_face_other(detail: str) -> tuple[str, str] | None:
    """(the other subscriber's account id, its photo kind) named by a FACE_UNDER_OTHER_ID detail."""
    found = _SAME_FACE_DETAIL.match(detail)
    return None if found is None else (found.group(2), found.group(1))


def _verdict_of(severities: Sequence[Severity]) -> Verdict:
    if Severity.FAIL in severities:
        return Verdict.FAIL
    return Verdict.REVIEW if severities else Verdict.PASS


def with_same_face(
    evidence: Sequence[Mapping[str, Any]], same: SameFace | None, policy: Policy
) -> tuple[Verdict, list[str], list[dict[str, Any]]]:
    """A stored judgement (its evidence, as ``Reason.to_dict`` gives it) with its FACE_UNDER_OTHER_ID
    replaced by what ``same`` gives: (verdict, reason codes, evidence), as ``judge`` would give them.
    A face found under another ID after the subscriber was judged is added this way."""
    kept = [dict(e) for e in evidence if e["code"] != ReasonCode.FACE_UNDER_OTHER_ID.value]
    for code, ev in _same_face_reasons(same, policy):
        severity = policy.severity_of(code)
        if severity is not Severity.IGNORE:
            kept.append(Reason(code=code, severity=severity, **ev).to_dict())
    verdict = _verdict_of([Severity(e["severity"]) for e in kept])
    return verdict, sorted({e["code"] for e in kept}), kept


def _conclude(
    found: list[tuple[ReasonCode, dict[str, Any]]], policy: Policy, distances: Mapping[str, float]
) -> Judgement:
    reasons = []
    for code, ev in found:
        severity = policy.severity_of(code)
        if severity is Severity.IGNORE:
            continue
        reasons.append(Reason(code=code, severity=severity, **ev))
    verdict = _verdict_of([r.severity for r in reasons])
    return Judgement(verdict=verdict, reasons=tuple(reasons), distances=distances)


def judge_photo(photo: PhotoInput, policy: Policy) -> Judgement:
    """The photo checks alone, for one photo (no face match, no ID data)."""
    found = [(code, {"photo_kind": photo.kind, **ev}) for code, ev in _photo_reasons(photo.kind, photo, policy)]
    return _conclude(found, policy, {})


def judge(subject: SubjectInput, policy: Policy, today: dt.date) -> Judgement:
    found: list[tuple[ReasonCode, dict[str, Any]]] = []
    kinds = list(dict.fromkeys([*policy.photos.required, *subject.photos.keys()]))
    for kind in kinds:
        for code, ev in _photo_reasons(kind, subject.photos.get(kind), policy):
            found.append((code, {"photo_kind": kind, **ev}))
    match_found, distances = _match_reasons(subject.photos, policy)
    found.extend(match_found)
    found.extend(_id_reasons(subject, policy, today))
    found.extend(_same_face_reasons(subject.same_face, policy))  # last: with_same_face replaces it there
    return _conclude(found, policy, distances)
