"""judge() on hand-built measurements: reason codes, evidence, severities and verdicts under a policy."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_overlays import FIXTURE_POLICIES, overlaid

from checks.face import encode_feature, fused_score
from checks.idcard import measure_id_number
from checks.judge import (
    Judgement,
    PhotoInput,
    Reason,
    SameFace,
    SubjectInput,
    Verdict,
    judge,
    same_face_other,
    with_same_face,
)
from checks.photo import PhotoMeasurement
from checks.policy import Policy, ReasonCode, Severity, parse_policy

# Thresholds pinned for these tests; the shipped default moves as it is calibrated.
PINNED = tomllib.loads((FIXTURE_POLICIES / "judge_pinned.toml").read_text(encoding="utf-8"))


@pytest.fixture
def default_policy() -> Policy:
    """Overrides the shared fixture: the judge is tested against pinned thresholds."""
    return policy_with()


TODAY = dt.date(2026, 6, 1)
VALID_ID = "11010519491231002X"
LEGACY_ID = "110105491231002"
BAD_CHECK_ID = "110105194912310029"


def descriptor(first: float = 0.0) -> tuple[float, ...]:
    """A 128-d descriptor; two of them differ by exactly ``|a - b|`` in the first component."""
    return (first, *([0.0] * 127))


def good_photo(**changes: Any) -> PhotoMeasurement:
    base = PhotoMeasurement(
        width_px=600,
        height_px=800,
        face_count=1,
        detection_score=1.5,
        face_box=(200.0, 250.0, 400.0, 450.0),
        face_width_px=200.0,
        inter_eye_px=70.0,
        sharpness=600.0,
        mean_luma=130.0,
        dark_share=0.01,
        bright_share=0.02,
        descriptor=descriptor(0.0),
    )
    return replace(base, **changes)


def subject(
    photos: dict[str, PhotoMeasurement | PhotoInput] | None = None,
    id_number: str = VALID_ID,
    expires: dt.date | None = None,
) -> SubjectInput:
    if photos is None:
        photos = {"id_portrait": good_photo(), "live": good_photo()}
    inputs = {
        kind: p if isinstance(p, PhotoInput) else PhotoInput(kind=kind, measurement=p) for kind, p in photos.items()
    }
    return SubjectInput(id_number=measure_id_number(id_number, TODAY), id_expires_on=expires, photos=inputs)


def policy_with(**sections: Any) -> Policy:
    """The pinned policy document with some values replaced, e.g. severity={...} or id={...}."""
    doc = overlaid(PINNED)
    del doc["ladder"], doc["notices"], doc["review"]  # the judge reads the checks half
    for name, values in sections.items():
        if name == "severity":
            doc["severity"] = values
        elif name == "photos":
            doc["photos"].update(values)
        else:
            doc["checks"][name].update(values)
    return parse_policy(doc)


def only(j: Judgement, code: ReasonCode) -> Reason:
    found = [r for r in j.reasons if r.code is code]
    assert len(found) == 1, j.reasons
    return found[0]


# --- all clear ---------------------------------------------------------------------------


def test_clean_subject_passes(default_policy: Policy) -> None:
    j = judge(subject(), default_policy, TODAY)
    assert j.verdict is Verdict.PASS
    assert j.reasons == ()
    assert j.codes == []
    assert j.distances == {"id_portrait~live": 0.0}


# --- photo reasons, with their evidence -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "changes", "measure", "value", "threshold", "comparison"),
    [
        (ReasonCode.NO_FACE, {"face_count": 0, "descriptor": None}, "face_count", 0, 1, "<"),
        (ReasonCode.MULTIPLE_FACES, {"face_count": 2}, "face_count", 2, 1, ">"),
        (ReasonCode.FACE_TOO_SMALL, {"inter_eye_px": 12.34}, "inter_eye_px", 12.3, 20.0, "<"),
        (ReasonCode.BLURRY, {"sharpness": 12.04}, "sharpness", 12.0, 40.0, "<"),
        (ReasonCode.TOO_DARK, {"mean_luma": 31.26}, "face_mean_luma", 31.3, 50.0, "<"),
        (ReasonCode.TOO_BRIGHT, {"mean_luma": 240.0}, "face_mean_luma", 240.0, 215.0, ">"),
        (ReasonCode.MOUTH_NOSE_OCCLUDED, {"mouth_nose_skin_share": 0.1234}, "mouth_nose_skin_share", 0.123, 0.3, "<"),
        (ReasonCode.EYES_OCCLUDED, {"eye_skin_luma_ratio": 0.2}, "eye_skin_luma_ratio", 0.2, 0.5, "<"),
    ],
)
@pytest.mark.parametrize("kind", ["id_portrait", "live"])
def test_photo_reason_fires_with_evidence(
    default_policy: Policy,
    kind: str,
    code: ReasonCode,
    changes: dict[str, Any],
    measure: str,
    value: float,
    threshold: float,
    comparison: str,
) -> None:
    photos: dict[str, PhotoMeasurement | PhotoInput] = {"id_portrait": good_photo(), "live": good_photo()}
    photos[kind] = good_photo(**changes)
    j = judge(subject(photos), default_policy, TODAY)
    reason = only(j, code)
    assert reason.photo_kind == kind
    assert reason.measure == measure
    assert reason.value == pytest.approx(value)
    assert reason.threshold == pytest.approx(threshold)
    assert reason.comparison == comparison
    assert reason.severity is default_policy.severity_of(code) is Severity.FAIL
    assert j.verdict is Verdict.FAIL
    assert j.codes == [code.value]


@pytest.mark.parametrize(
    "changes",
    [
        {"inter_eye_px": 20.0},
        {"sharpness": 40.0},
        {"mean_luma": 50.0},
        {"mean_luma": 215.0},
        {"mouth_nose_skin_share": 0.30},
        {"eye_skin_luma_ratio": 0.50},
        {"inter_eye_px": None, "sharpness": None, "mean_luma": None},  # not measured: nothing to judge
    ],
)
def test_values_at_the_threshold_do_not_fire(default_policy: Policy, changes: dict[str, Any]) -> None:
    j = judge(subject({"id_portrait": good_photo(), "live": good_photo(**changes)}), default_policy, TODAY)
    assert j.verdict is Verdict.PASS, j.reasons


@pytest.mark.parametrize(
    ("changes", "fires", "threshold"),
    [
        ({"eye_skin_luma_ratio": 0.7, "eyes_seen": 0}, True, 0.8),  # eyes unseen: milder darkening suffices
        ({"eye_skin_luma_ratio": 0.7, "eyes_seen": 1}, False, None),  # one eye seen: the strict ratio applies
        ({"eye_skin_luma_ratio": 0.8, "eyes_seen": 0}, False, None),  # at the threshold
        ({"eye_skin_luma_ratio": 0.3, "eyes_seen": 2}, True, 0.5),  # very dark eye boxes, whatever is seen
        ({"mouth_nose_skin_share": None}, False, None),  # no usable skin reference: not judged
    ],
)
def test_eye_and_mouth_rules(default_policy: Policy, changes: dict[str, Any], fires: bool, threshold: float) -> None:
    j = judge(subject({"id_portrait": good_photo(), "live": good_photo(**changes)}), default_policy, TODAY)
    if not fires:
        assert j.verdict is Verdict.PASS, j.reasons
        return
    reason = only(j, ReasonCode.EYES_OCCLUDED)
    assert reason.threshold == pytest.approx(threshold)
    assert reason.measure == "eye_skin_luma_ratio"
    assert ("neither eye" in reason.detail) == (changes["eyes_seen"] == 0)


def test_no_skin_in_the_eye_boxes_means_eyes_occluded(default_policy: Policy) -> None:
    limit = default_policy.checks.occlusion.min_eye_skin_share
    covered = good_photo(eye_skin_luma_ratio=0.9, eyes_seen=1, eye_skin_share=limit / 2)
    reason = only(
        judge(subject({"id_portrait": good_photo(), "live": covered}), default_policy, TODAY), ReasonCode.EYES_OCCLUDED
    )
    assert reason.measure == "eye_skin_share" and reason.threshold == limit and reason.comparison == "<"
    seen = good_photo(eye_skin_luma_ratio=0.9, eyes_seen=1, eye_skin_share=limit)
    assert judge(subject({"id_portrait": good_photo(), "live": seen}), default_policy, TODAY).verdict is Verdict.PASS


def test_a_covered_head_goes_to_review_unless_the_policy_says_fail(default_policy: Policy) -> None:
    limit = default_policy.checks.occlusion.max_head_cover_share
    capped = good_photo(head_cover_share=limit + 0.1)
    j = judge(subject({"id_portrait": good_photo(), "live": capped}), default_policy, TODAY)
    reason = only(j, ReasonCode.HEAD_COVERED)
    assert (reason.measure, reason.threshold, reason.comparison, reason.photo_kind) == (
        "head_cover_share",
        limit,
        ">",
        "live",
    )
    assert reason.severity is Severity.REVIEW and j.verdict is Verdict.REVIEW
    at_limit = good_photo(head_cover_share=limit)
    assert (
        judge(subject({"id_portrait": good_photo(), "live": at_limit}), default_policy, TODAY).verdict is Verdict.PASS
    )
    strict = default_policy.model_copy(update={"severity": {**default_policy.severity, "HEAD_COVERED": "fail"}})
    assert judge(subject({"id_portrait": good_photo(), "live": capped}), strict, TODAY).verdict is Verdict.FAIL


def test_no_face_keeps_only_whole_photo_exposure(default_policy: Policy) -> None:
    # Without a face, sharpness and size mean nothing, but exposure of the whole
    # photo explains why no face was found.
    faceless = good_photo(face_count=0, descriptor=None, sharpness=1.0, mean_luma=5.0, inter_eye_px=None)
    j = judge(subject({"id_portrait": good_photo(), "live": faceless}), default_policy, TODAY)
    assert j.codes == ["NO_FACE", "TOO_DARK"]
    (dark,) = [r for r in j.reasons if r.code.value == "TOO_DARK"]
    assert dark.measure == "photo_mean_luma" and dark.value == 5.0 and dark.photo_kind == "live"
    assert j.distances == {}  # no descriptor: no comparison

    normal = good_photo(face_count=0, descriptor=None, sharpness=1.0, inter_eye_px=None)
    j = judge(subject({"id_portrait": good_photo(), "live": normal}), default_policy, TODAY)
    assert j.codes == ["NO_FACE"]


def test_no_face_in_a_blurred_photo_says_blurry(default_policy: Policy) -> None:
    limit = default_policy.checks.clarity.min_photo_sharpness
    blurred = good_photo(face_count=0, descriptor=None, sharpness=None, inter_eye_px=None, photo_sharpness=limit - 1)
    j = judge(subject({"id_portrait": good_photo(), "live": blurred}), default_policy, TODAY)
    assert j.codes == ["BLURRY", "NO_FACE"]
    (blurry,) = [r for r in j.reasons if r.code.value == "BLURRY"]
    assert blurry.measure == "photo_sharpness" and blurry.threshold == limit and blurry.comparison == "<"
    sharp = good_photo(face_count=0, descriptor=None, sharpness=None, inter_eye_px=None, photo_sharpness=limit)
    j = judge(subject({"id_portrait": good_photo(), "live": sharp}), default_policy, TODAY)
    assert j.codes == ["NO_FACE"]


def test_several_photo_reasons_at_once(default_policy: Policy) -> None:
    bad = good_photo(face_count=3, inter_eye_px=10.0, sharpness=5.0, mean_luma=20.0)
    j = judge(subject({"id_portrait": good_photo(), "live": bad}), default_policy, TODAY)
    assert j.codes == sorted(["MULTIPLE_FACES", "FACE_TOO_SMALL", "BLURRY", "TOO_DARK"])
    assert all(r.photo_kind == "live" for r in j.reasons)


def test_handheld_allows_two_faces_but_not_three(default_policy: Policy) -> None:
    two = subject({"id_portrait": good_photo(), "live": good_photo(), "handheld": good_photo(face_count=2)})
    assert judge(two, default_policy, TODAY).verdict is Verdict.PASS
    three = subject({"id_portrait": good_photo(), "live": good_photo(), "handheld": good_photo(face_count=3)})
    reason = only(judge(three, default_policy, TODAY), ReasonCode.MULTIPLE_FACES)
    assert (reason.photo_kind, reason.value, reason.threshold, reason.comparison) == ("handheld", 3, 2, ">")


def test_unreadable_photo(default_policy: Policy) -> None:
    unreadable = PhotoInput(kind="live", error="truncated image data: /photos/a.jpg")
    j = judge(subject({"id_portrait": good_photo(), "live": unreadable}), default_policy, TODAY)
    reason = only(j, ReasonCode.UNREADABLE_PHOTO)
    assert reason.photo_kind == "live"
    assert reason.detail == "truncated image data: /photos/a.jpg"
    assert reason.severity is Severity.FAIL
    assert j.verdict is Verdict.FAIL
    assert j.distances == {}


@pytest.mark.parametrize("missing", ["id_portrait", "live"])
def test_missing_required_photo_is_no_photo(default_policy: Policy, missing: str) -> None:
    photos: dict[str, PhotoMeasurement | PhotoInput] = {"id_portrait": good_photo(), "live": good_photo()}
    del photos[missing]
    j = judge(subject(photos), default_policy, TODAY)
    reason = only(j, ReasonCode.NO_PHOTO)
    assert reason.photo_kind == missing
    assert missing in reason.detail
    assert reason.severity is Severity.FAIL
    assert j.verdict is Verdict.FAIL
    assert j.codes == ["NO_PHOTO"]


def test_no_photos_at_all(default_policy: Policy) -> None:
    j = judge(subject({}), default_policy, TODAY)
    assert sorted(r.photo_kind or "" for r in j.reasons) == ["id_portrait", "live"]
    assert j.codes == ["NO_PHOTO"]


def test_missing_optional_handheld_gives_nothing(default_policy: Policy) -> None:
    assert "handheld" not in default_policy.photos.required
    j = judge(subject({"id_portrait": good_photo(), "live": good_photo()}), default_policy, TODAY)
    assert j.verdict is Verdict.PASS
    assert all(r.photo_kind != "handheld" for r in j.reasons)


def test_handheld_required_by_a_stricter_policy() -> None:
    strict = policy_with(photos={"required": ["id_portrait", "live", "handheld"]})
    j = judge(subject({"id_portrait": good_photo(), "live": good_photo()}), strict, TODAY)
    assert only(j, ReasonCode.NO_PHOTO).photo_kind == "handheld"


# --- face distance bands -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance", "code", "threshold", "verdict"),
    [
        (0.0, None, None, Verdict.PASS),
        (0.39999, None, None, Verdict.PASS),
        (0.40, None, None, Verdict.PASS),  # at match_max_distance: still a match
        (0.40001, ReasonCode.FACE_MATCH_UNCERTAIN, 0.40, Verdict.REVIEW),
        (0.50, ReasonCode.FACE_MATCH_UNCERTAIN, 0.40, Verdict.REVIEW),
        (0.55, ReasonCode.FACE_MATCH_UNCERTAIN, 0.40, Verdict.REVIEW),  # at mismatch_above_distance: review
        (0.55001, ReasonCode.FACE_MISMATCH, 0.55, Verdict.FAIL),
        (1.2, ReasonCode.FACE_MISMATCH, 0.55, Verdict.FAIL),
    ],
)
def test_face_distance_bands(
    default_policy: Policy, distance: float, code: ReasonCode | None, threshold: float | None, verdict: Verdict
) -> None:
    assert default_policy.checks.match.model == "dlib"
    assert default_policy.checks.match.dlib is not None
    assert default_policy.checks.match.dlib.match_max_distance == 0.40
    assert default_policy.checks.match.dlib.mismatch_above_distance == 0.55
    s = subject({"id_portrait": good_photo(), "live": good_photo(descriptor=descriptor(distance))})
    j = judge(s, default_policy, TODAY)
    assert j.distances["id_portrait~live"] == pytest.approx(distance, abs=1e-4)
    assert j.verdict is verdict
    if code is None:
        assert j.reasons == ()
        return
    reason = only(j, code)
    assert reason.photo_kind == "id_portrait~live"
    assert reason.measure == "face_distance"
    assert reason.value == pytest.approx(distance, abs=1e-4)
    assert reason.threshold == threshold
    assert reason.comparison == ">"
    assert reason.severity is default_policy.severity_of(code)
    assert "model dlib" in reason.detail


def test_handheld_is_compared_with_the_id_portrait(default_policy: Policy) -> None:
    s = subject(
        {
            "id_portrait": good_photo(),
            "live": good_photo(descriptor=descriptor(0.1)),
            "handheld": good_photo(descriptor=descriptor(0.9)),
        }
    )
    j = judge(s, default_policy, TODAY)
    assert set(j.distances) == {"id_portrait~live", "id_portrait~handheld"}
    assert only(j, ReasonCode.FACE_MISMATCH).photo_kind == "id_portrait~handheld"


def test_no_comparison_without_both_descriptors(default_policy: Policy) -> None:
    # A faceless photo has its own reason (NO_FACE) and is not compared.
    faceless = good_photo(face_count=0, face_box=None, descriptor=None)
    s = subject({"id_portrait": faceless, "live": good_photo(descriptor=descriptor(1.5))})
    j = judge(s, default_policy, TODAY)
    assert j.distances == {}
    assert j.codes == ["NO_FACE"]
    # A face whose dlib descriptor was never measured cannot be judged by the dlib model:
    # a person decides, the match is not assumed.
    s = subject({"id_portrait": good_photo(descriptor=None), "live": good_photo(descriptor=descriptor(1.5))})
    j = judge(s, default_policy, TODAY)
    assert j.distances == {}
    assert j.verdict is Verdict.REVIEW
    assert "not measured" in (only(j, ReasonCode.FACE_MATCH_UNCERTAIN).detail or "")


def feature(cosine: float) -> str:
    """An SFace feature whose cosine with ``feature(1.0)`` is ``cosine``."""
    v = np.zeros(128, dtype=np.float32)
    v[0], v[1] = cosine, math.sqrt(max(0.0, 1.0 - cosine * cosine))
    return encode_feature(v)


SFACE_BANDS = {"model": "sface", "sface": {"match_min_cosine": 0.40, "mismatch_below_cosine": 0.20}}


@pytest.mark.parametrize(
    ("cosine", "code", "threshold", "verdict"),
    [
        (1.0, None, None, Verdict.PASS),
        (0.40, None, None, Verdict.PASS),  # at match_min_cosine: still a match
        (0.3999, ReasonCode.FACE_MATCH_UNCERTAIN, 0.40, Verdict.REVIEW),
        (0.20, ReasonCode.FACE_MATCH_UNCERTAIN, 0.40, Verdict.REVIEW),  # at mismatch_below_cosine: review
        (0.1999, ReasonCode.FACE_MISMATCH, 0.20, Verdict.FAIL),
        (-0.3, ReasonCode.FACE_MISMATCH, 0.20, Verdict.FAIL),
    ],
)
def test_sface_cosine_bands(cosine: float, code: ReasonCode | None, threshold: float | None, verdict: Verdict) -> None:
    policy = policy_with(match=SFACE_BANDS)
    # The dlib distance (0.9) would be a mismatch: the bands judged are SFace's.
    s = subject(
        {
            "id_portrait": good_photo(sface_feature=feature(1.0)),
            "live": good_photo(sface_feature=feature(cosine), descriptor=descriptor(0.9)),
        }
    )
    j = judge(s, policy, TODAY)
    assert j.distances["id_portrait~live"] == pytest.approx(0.9)  # the dlib distance is still recorded
    assert j.distances["id_portrait~live:face_cosine"] == pytest.approx(cosine, abs=1e-4)  # and the model's score
    assert j.verdict is verdict
    if code is None:
        assert j.reasons == ()
        return
    reason = only(j, code)
    assert reason.measure == "face_cosine"
    assert reason.value == pytest.approx(cosine, abs=1e-4)
    assert reason.threshold == threshold
    assert reason.comparison == "<"
    assert "model sface" in reason.detail


@pytest.mark.parametrize(
    ("cosine", "distance", "code"),
    [
        (0.6, 0.3, None),  # 0.7 * 0.6 + 0.3 * 0.7 = 0.63
        (0.4, 0.5, ReasonCode.FACE_MATCH_UNCERTAIN),  # 0.28 + 0.15 = 0.43
        (0.1, 0.8, ReasonCode.FACE_MISMATCH),  # 0.07 + 0.06 = 0.13
    ],
)
def test_fused_bands(cosine: float, distance: float, code: ReasonCode | None) -> None:
    policy = policy_with(match={"model": "fused", "fused": {"match_min_score": 0.45, "mismatch_below_score": 0.28}})
    s = subject(
        {
            "id_portrait": good_photo(sface_feature=feature(1.0)),
            "live": good_photo(sface_feature=feature(cosine), descriptor=descriptor(distance)),
        }
    )
    j = judge(s, policy, TODAY)
    if code is None:
        assert j.verdict is Verdict.PASS
        return
    reason = only(j, code)
    assert reason.measure == "face_fused"
    assert reason.value == pytest.approx(fused_score(cosine, distance), abs=1e-4)


def test_sface_without_features_is_uncertain_not_passed() -> None:
    policy = policy_with(match=SFACE_BANDS)
    s = subject({"id_portrait": good_photo(sface_feature=feature(1.0)), "live": good_photo(sface_feature=None)})
    j = judge(s, policy, TODAY)
    reason = only(j, ReasonCode.FACE_MATCH_UNCERTAIN)
    assert reason.measure == "face_cosine" and reason.value is None
    assert "no face features on the live photo" in reason.detail
    assert j.verdict is Verdict.REVIEW


# --- ID number and expiry -------------------------------------------------------------------


def test_invalid_id_number(default_policy: Policy) -> None:
    j = judge(subject(id_number=BAD_CHECK_ID), default_policy, TODAY)
    reason = only(j, ReasonCode.ID_NUMBER_INVALID)
    assert reason.measure == "id_number"
    assert "check digit" in reason.detail
    assert reason.severity is Severity.FAIL
    assert j.verdict is Verdict.FAIL


def test_malformed_id_number(default_policy: Policy) -> None:
    j = judge(subject(id_number="12345"), default_policy, TODAY)
    assert "expected 18 characters" in only(j, ReasonCode.ID_NUMBER_INVALID).detail


def test_legacy_number_is_review_by_default(default_policy: Policy) -> None:
    j = judge(subject(id_number=LEGACY_ID), default_policy, TODAY)
    reason = only(j, ReasonCode.ID_LEGACY_NUMBER)
    assert reason.severity is Severity.REVIEW
    assert reason.value == 15
    assert j.verdict is Verdict.REVIEW
    assert j.codes == ["ID_LEGACY_NUMBER"]


def test_invalid_legacy_number_is_invalid_not_legacy(default_policy: Policy) -> None:
    j = judge(subject(id_number="000000491231002"), default_policy, TODAY)
    assert j.codes == ["ID_NUMBER_INVALID"]


@pytest.mark.parametrize(
    ("grace", "expired_days_ago", "expired"),
    [
        (0, -10, False),  # expires in the future
        (0, 0, False),  # expires today: still valid today
        (0, 1, True),
        (30, 30, False),  # last day of grace
        (30, 31, True),
        (30, 400, True),
    ],
)
def test_id_expiry_with_grace_days(grace: int, expired_days_ago: int, expired: bool) -> None:
    policy = policy_with(id={"expiry_grace_days": grace})
    expires = TODAY - dt.timedelta(days=expired_days_ago)
    j = judge(subject(expires=expires), policy, TODAY)
    if not expired:
        assert "ID_EXPIRED" not in j.codes
        assert j.verdict is Verdict.PASS
        return
    reason = only(j, ReasonCode.ID_EXPIRED)
    assert reason.measure == "id_expires_on"
    assert reason.value == expires.isoformat()
    assert reason.threshold == (TODAY - dt.timedelta(days=grace)).isoformat()  # value < threshold fired
    assert reason.comparison == "<"
    assert f"{expired_days_ago} days" in reason.detail
    assert reason.severity is Severity.FAIL
    assert j.verdict is Verdict.FAIL


def test_long_term_id_never_expires(default_policy: Policy) -> None:
    far_future = dt.date(2200, 1, 1)
    assert "ID_EXPIRED" not in judge(subject(expires=None), default_policy, far_future).codes


def test_judgement_depends_on_the_given_day(default_policy: Policy) -> None:
    s = subject(expires=dt.date(2026, 6, 1))
    assert judge(s, default_policy, dt.date(2026, 6, 1)).verdict is Verdict.PASS
    assert judge(s, default_policy, dt.date(2026, 6, 2)).verdict is Verdict.FAIL


# --- verdict aggregation and severity overrides ---------------------------------------------


def test_fail_beats_review(default_policy: Policy) -> None:
    s = subject(
        {"id_portrait": good_photo(), "live": good_photo(descriptor=descriptor(0.5), sharpness=1.0)},
        id_number=LEGACY_ID,
    )
    j = judge(s, default_policy, TODAY)
    assert {r.severity for r in j.reasons} == {Severity.FAIL, Severity.REVIEW}
    assert j.verdict is Verdict.FAIL
    assert j.codes == sorted(["BLURRY", "FACE_MATCH_UNCERTAIN", "ID_LEGACY_NUMBER"])


def test_review_beats_pass(default_policy: Policy) -> None:
    s = subject({"id_portrait": good_photo(), "live": good_photo(descriptor=descriptor(0.5))}, id_number=LEGACY_ID)
    j = judge(s, default_policy, TODAY)
    assert j.verdict is Verdict.REVIEW
    assert all(r.severity is Severity.REVIEW for r in j.reasons)
    assert len(j.reasons) == 2


def test_severity_override_to_review() -> None:
    policy = policy_with(severity={"BLURRY": "review"})
    j = judge(subject({"id_portrait": good_photo(), "live": good_photo(sharpness=1.0)}), policy, TODAY)
    assert only(j, ReasonCode.BLURRY).severity is Severity.REVIEW
    assert j.verdict is Verdict.REVIEW


def test_severity_override_to_fail() -> None:
    policy = policy_with(severity={"FACE_MATCH_UNCERTAIN": "fail", "ID_LEGACY_NUMBER": "fail"})
    s = subject({"id_portrait": good_photo(), "live": good_photo(descriptor=descriptor(0.5))}, id_number=LEGACY_ID)
    j = judge(s, policy, TODAY)
    assert {r.severity for r in j.reasons} == {Severity.FAIL}
    assert j.verdict is Verdict.FAIL


def test_severity_ignore_drops_the_reason() -> None:
    policy = policy_with(severity={"BLURRY": "ignore", "NO_PHOTO": "ignore"})
    j = judge(subject({"live": good_photo(sharpness=1.0)}), policy, TODAY)
    assert j.reasons == ()
    assert j.verdict is Verdict.PASS
    # Other codes are unaffected by the override.
    j = judge(subject({"live": good_photo(sharpness=1.0, mean_luma=10.0)}), policy, TODAY)
    assert j.codes == ["TOO_DARK"]


def test_reason_to_dict_is_plain_data(default_policy: Policy) -> None:
    j = judge(subject({"id_portrait": good_photo(), "live": good_photo(sharpness=1.0)}), default_policy, TODAY)
    d = only(j, ReasonCode.BLURRY).to_dict()
    assert d["code"] == "BLURRY" and d["severity"] == "fail"
    assert isinstance(d["code"], str) and type(d["severity"]) is str
    assert {"photo_kind", "measure", "value", "threshold", "comparison", "detail"} <= set(d)


def test_measurement_round_trips_through_dict() -> None:
    m = good_photo()
    again = PhotoMeasurement.from_dict(m.to_dict())
    assert again == m
    assert isinstance(again.descriptor, tuple) and isinstance(again.face_box, tuple)


def test_reason_to_dict_carries_every_field() -> None:
    from dataclasses import asdict

    reason = Reason(ReasonCode.BLURRY, Severity.FAIL, "live", "sharpness", 12.5, 100.0, "<", "detail")
    expected = {**asdict(reason), "code": "BLURRY", "severity": "fail"}
    assert reason.to_dict() == expected


@pytest.mark.parametrize(("numbers", "flagged"), [(None, False), (1, False), (5, False), (6, True), (40, True)])
def test_more_numbers_on_an_id_than_the_limit_is_review_naming_the_count(
    default_policy: Policy, numbers: int | None, flagged: bool
) -> None:
    j = judge(replace(subject(), numbers_on_id=numbers), default_policy, TODAY)
    if not flagged:
        assert j.verdict is Verdict.PASS and j.codes == []
        return
    reason = only(j, ReasonCode.ID_TOO_MANY_NUMBERS)
    assert (reason.severity, reason.value, reason.threshold, reason.comparison) == (Severity.REVIEW, numbers, 5, ">")
    assert j.verdict is Verdict.REVIEW and f"{numbers} numbers" in reason.detail


def same_face(distance: float, others: int = 1) -> SameFace:
    return SameFace(distance, "live", "ACC-7", "139****0001", "id_portrait", others)


@pytest.mark.parametrize(
    ("distance", "flagged"), [(0.0, True), (0.12, True), (0.2, True), (0.2001, False), (0.6, False)]
)
def test_a_face_under_another_id_within_the_bound_is_review_naming_the_other_account(
    default_policy: Policy, distance: float, flagged: bool
) -> None:
    j = judge(replace(subject(), same_face=same_face(distance)), default_policy, TODAY)
    if not flagged:
        assert j.verdict is Verdict.PASS and j.codes == []
        return
    reason = only(j, ReasonCode.FACE_UNDER_OTHER_ID)
    assert (reason.severity, reason.value, reason.threshold) == (Severity.REVIEW, distance, 0.2)
    assert (reason.photo_kind, reason.measure, reason.comparison) == ("live", "same_face_distance", "<")
    assert "ACC-7" in reason.detail and "139****0001" in reason.detail and "id_portrait" in reason.detail
    assert j.verdict is Verdict.REVIEW
    assert same_face_other(reason.detail) == ("ACC-7", "id_portrait")  # what the review page shows beside


def test_the_count_of_other_accounts_is_named_and_a_policy_may_fail_it(default_policy: Policy) -> None:
    strict = policy_with(severity={"FACE_UNDER_OTHER_ID": "fail"})
    j = judge(replace(subject(), same_face=same_face(0.05, others=3)), strict, TODAY)
    assert (
        j.verdict is Verdict.FAIL and "3 accounts of other ID numbers" in only(j, ReasonCode.FACE_UNDER_OTHER_ID).detail
    )
    ignored = policy_with(severity={"FACE_UNDER_OTHER_ID": "ignore"})
    assert judge(replace(subject(), same_face=same_face(0.05)), ignored, TODAY).verdict is Verdict.PASS


_SUBJECTS = st.sampled_from(
    [
        subject(),
        subject(id_number=LEGACY_ID),
        subject(id_number=BAD_CHECK_ID),
        subject({"id_portrait": good_photo(), "live": good_photo(sharpness=5.0)}),
        subject({"id_portrait": good_photo()}),
        subject(expires=dt.date(2020, 1, 1)),
    ]
)
_SAME = st.one_of(st.none(), st.builds(same_face, st.floats(0.0, 0.5), st.integers(1, 4)))


@settings(max_examples=150, deadline=None)
@given(_SUBJECTS, _SAME, _SAME)
def test_with_same_face_gives_what_judge_gives(
    base: SubjectInput, before: SameFace | None, after: SameFace | None
) -> None:
    """A stored judgement whose face under another ID changed is rewritten to exactly what judging again
    with the new one gives: verdict, codes and evidence."""
    policy = policy_with()
    stored = judge(replace(base, same_face=before), policy, TODAY)
    verdict, codes, evidence = with_same_face([r.to_dict() for r in stored.reasons], after, policy)
    fresh = judge(replace(base, same_face=after), policy, TODAY)
    assert (verdict, codes, evidence) == (fresh.verdict, fresh.codes, [r.to_dict() for r in fresh.reasons])
