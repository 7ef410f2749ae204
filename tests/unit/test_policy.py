"""Policy documents: the shipped default loads and is fingerprinted; every broken file names what is wrong."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import pytest
import tomli_w
from policy_overlays import FIXTURE_POLICIES, WHOLE_FILES, fixture_policy, shipped_document

from checks.policy import DEFAULT_SEVERITY, PolicyError, ReasonCode, Severity, parse_policy
from scanner.policyfile import DEFAULT_POLICY, load_policy


def _default_document() -> dict:  # type: ignore[type-arg]
    """The checks half of the shipped policy (its [ladder] and [notices] tables are notices.settings',
    its [review] table notices.review's)."""
    document = tomllib.loads(DEFAULT_POLICY.read_text(encoding="utf-8"))
    assert {"ladder", "notices", "review"} <= document.keys()
    del document["ladder"], document["notices"], document["review"]
    return document


# --- the shipped default ---------------------------------------------------------------


def test_default_policy_loads_with_name_version_and_hash() -> None:
    loaded = load_policy()
    raw = DEFAULT_POLICY.read_bytes()
    document = tomllib.loads(raw.decode("utf-8"))
    assert loaded.policy.name == "default" == document["policy"]["name"]
    assert loaded.policy.version == document["policy"]["version"]
    assert loaded.policy.version  # never empty
    assert re.fullmatch(r"[0-9a-f]{64}", loaded.sha256)
    assert loaded.sha256 == hashlib.sha256(raw).hexdigest()
    assert Path(loaded.path) == DEFAULT_POLICY


def test_default_policy_path_given_explicitly_is_the_same() -> None:
    assert load_policy(DEFAULT_POLICY).sha256 == load_policy().sha256


def test_default_policy_values_are_sane() -> None:
    policy = load_policy().policy
    assert set(policy.photos.required) == {"id_portrait", "live"}
    assert policy.checks.exposure.min_mean_luma < policy.checks.exposure.max_mean_luma
    match = policy.checks.match
    assert match.model == "sface"
    assert match.sface is not None and match.sface.match_min_cosine >= match.sface.mismatch_below_cosine
    assert match.dlib is not None and match.dlib.match_max_distance <= match.dlib.mismatch_above_distance
    assert match.fused is not None and match.fused.match_min_score >= match.fused.mismatch_below_score
    # TOML arrays come back as tuples (hashable, immutable).
    assert isinstance(policy.photos.required, tuple)
    assert all(isinstance(pair, tuple) and len(pair) == 2 for pair in policy.checks.match.compare)


def test_sha256_changes_when_one_byte_changes(tmp_path: Path) -> None:
    raw = DEFAULT_POLICY.read_bytes()
    copy = tmp_path / "default.toml"
    copy.write_bytes(raw)
    same = load_policy(copy)
    assert same.sha256 == load_policy().sha256

    # Change a single byte inside a comment: the policy means the same, the fingerprint differs.
    i = raw.index(b"# ") + 2
    changed = raw[:i] + (b"X" if raw[i : i + 1] != b"X" else b"Y") + raw[i + 1 :]
    assert len(changed) == len(raw)
    copy.write_bytes(changed)
    other = load_policy(copy)
    assert other.sha256 != same.sha256
    assert other.policy == same.policy
    assert other.path == str(copy)


def test_default_severities() -> None:
    policy = load_policy().policy
    for code in ReasonCode:
        review = (
            ReasonCode.FACE_MATCH_UNCERTAIN,
            ReasonCode.ID_LEGACY_NUMBER,
            ReasonCode.HEAD_COVERED,
            ReasonCode.ID_TOO_MANY_NUMBERS,
            ReasonCode.FACE_UNDER_OTHER_ID,
        )
        expected = Severity.REVIEW if code in review else Severity.FAIL
        assert DEFAULT_SEVERITY[code] is expected
        if code.value not in policy.severity:
            assert policy.severity_of(code) is expected


def test_policy_is_immutable() -> None:
    policy = load_policy().policy
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen models
        policy.checks.clarity.min_sharpness = 0.0  # type: ignore[misc]


# --- a valid stricter variant --------------------------------------------------------


def test_strict_variant_loads(tmp_path: Path) -> None:
    loaded = load_policy(fixture_policy("strict.toml", tmp_path))
    policy = loaded.policy
    default = load_policy().policy
    assert policy.name == "strict" and policy.version == "2026.11-strict-1"
    assert loaded.sha256 != load_policy().sha256
    assert "handheld" in policy.photos.required
    assert policy.checks.clarity.min_sharpness > default.checks.clarity.min_sharpness
    assert policy.checks.face.min_inter_eye_px == 30  # an integer is accepted where a number is expected
    assert ("live", "handheld") in policy.checks.match.compare
    assert policy.checks.id.expiry_grace_days == 30
    assert policy.severity_of(ReasonCode.FACE_MATCH_UNCERTAIN) is Severity.FAIL
    assert policy.severity_of(ReasonCode.ID_LEGACY_NUMBER) is Severity.FAIL
    assert policy.severity_of(ReasonCode.TOO_BRIGHT) is Severity.REVIEW
    assert policy.severity_of(ReasonCode.FACE_TOO_SMALL) is Severity.IGNORE
    assert policy.severity_of(ReasonCode.BLURRY) is Severity.FAIL  # unlisted: default


# --- broken files: each error names the file and the key -------------------------------

BROKEN = {
    # file: (key that must be named, words that must appear)
    "unknown_key.toml": ("checks.clarity.min_sharpnes", "unknown key"),
    "wrong_type.toml": ("checks.clarity.min_sharpness", "valid number"),
    "luma_range.toml": ("checks.exposure", "min_mean_luma (220.0) must be below max_mean_luma (120.0)"),
    "luma_out_of_range.toml": ("checks.exposure.max_mean_luma", "255"),
    "match_range.toml": ("checks.match.dlib", "match_max_distance (0.6) must not exceed mismatch_above_distance"),
    "negative_threshold.toml": ("checks.clarity.min_sharpness", "greater than or equal to 0"),
    "negative_grace.toml": ("checks.id.expiry_grace_days", "greater than or equal to 0"),
    "zero_max_faces.toml": ("max_faces.live", "at least 1"),
    "compare_self.toml": ("checks.match", "compares a photo with itself"),
    "missing_section.toml": ("checks.match", "Field required"),
    "unknown_reason.toml": ("severity.BLURY", "unknown reason code"),
    "bad_severity.toml": ("severity.BLURRY", "'fail', 'review' or 'ignore'"),
    "unknown_photo_kind.toml": ("photos.required.1", "'id_portrait', 'live' or 'handheld'"),
    "invalid_syntax.toml": ("", "not valid TOML"),
    "not_utf8.toml": ("", "not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_policy_file_is_refused_naming_the_key(name: str, tmp_path: Path) -> None:
    key, words = BROKEN[name]
    file = fixture_policy(name, tmp_path)
    assert file.is_file(), f"fixture missing: {file}"
    with pytest.raises(PolicyError) as info:
        load_policy(file)
    message = str(info.value)
    assert message.startswith(f"{file}:"), message
    assert key in message, message
    assert words in message, message


def test_every_broken_fixture_is_covered(tmp_path: Path) -> None:
    valid = {"strict.toml", "judge_pinned.toml"}
    on_disk = {p.name for p in FIXTURE_POLICIES.glob("*.toml")} - valid
    assert on_disk == set(BROKEN)
    for name in valid:
        load_policy(fixture_policy(name, tmp_path))  # the valid fixtures load


def test_a_fixture_policy_names_only_what_it_changes() -> None:
    """Overlays stay small: a key added to the shipped policy is one edit, not one per fixture."""
    for file in FIXTURE_POLICIES.glob("*.toml"):
        if file.name not in WHOLE_FILES:
            assert len(file.read_text(encoding="utf-8").splitlines()) <= 40, file.name


def test_a_policy_without_the_notice_link_is_refused_naming_the_key(tmp_path: Path) -> None:
    doc = shipped_document()
    del doc["notices"]["link"]
    file = tmp_path / "no_link.toml"
    file.write_text(tomli_w.dumps(doc), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"no_link.toml: notices.link: Field required"):
        load_policy(file)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match=r"cannot read policy file") as info:
        load_policy(missing)
    assert str(missing) in str(info.value)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"cannot read policy file") as info:
        load_policy(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_path_through_a_file_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with pytest.raises(PolicyError, match=r"cannot read policy file \(Not a directory\)"):
        load_policy(plain / "policy.toml")


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked.toml"
    locked.write_bytes(DEFAULT_POLICY.read_bytes())
    locked.chmod(0)
    try:
        try:
            locked.read_bytes()
        except PermissionError:
            pass
        else:
            pytest.skip("running with privileges that ignore file permissions")
        with pytest.raises(PolicyError, match=r"cannot read policy file.*[Pp]ermission denied"):
            load_policy(locked)
    finally:
        locked.chmod(0o600)


# --- parse_policy on documents ----------------------------------------------------------


def test_parse_policy_accepts_the_default_document() -> None:
    assert parse_policy(_default_document()) == load_policy().policy


def test_several_errors_are_all_named() -> None:
    doc = _default_document()
    doc["checks"]["clarity"]["min_sharpness"] = -1.0
    doc["checks"]["face"]["extra_key"] = 1
    doc["checks"]["exposure"]["max_mean_luma"] = "215"
    with pytest.raises(PolicyError) as info:
        parse_policy(doc)
    message = str(info.value)
    assert "checks.clarity.min_sharpness" in message
    assert "checks.face.extra_key: unknown key" in message
    assert "checks.exposure.max_mean_luma" in message


@pytest.mark.parametrize(
    ("section", "key", "value", "named"),
    [
        ("clarity", "min_sharpness", "40", "checks.clarity.min_sharpness"),
        ("clarity", "min_sharpness", True, "checks.clarity.min_sharpness"),
        ("face", "min_inter_eye_px", 0.0, "checks.face.min_inter_eye_px"),
        ("exposure", "min_mean_luma", -1.0, "checks.exposure.min_mean_luma"),
        ("exposure", "min_mean_luma", 215.0, "checks.exposure"),  # equal to the maximum
        ("match", "model", "arcface", "checks.match.model"),
        ("match", "model", "SFace", "checks.match.model"),
        ("id", "expiry_grace_days", 1.5, "checks.id.expiry_grace_days"),
        ("id", "expiry_grace_days", 100000, "checks.id.expiry_grace_days"),
    ],
)
def test_bad_threshold_names_the_key(section: str, key: str, value: object, named: str) -> None:
    doc = _default_document()
    doc["checks"][section][key] = value
    with pytest.raises(PolicyError, match=re.escape(named)):
        parse_policy(doc)


def test_nan_threshold_is_refused() -> None:
    doc = _default_document()
    doc["checks"]["clarity"]["min_sharpness"] = float("nan")
    with pytest.raises(PolicyError, match=r"checks\.clarity\.min_sharpness"):
        parse_policy(doc)


@pytest.mark.parametrize(
    ("model", "key", "value", "named"),
    [
        ("dlib", "match_max_distance", 2.5, "checks.match.dlib.match_max_distance"),
        ("dlib", "mismatch_above_distance", 0.0, "checks.match.dlib.mismatch_above_distance"),
        ("sface", "match_min_cosine", 1.5, "checks.match.sface.match_min_cosine"),
        ("sface", "mismatch_below_cosine", "0.2", "checks.match.sface.mismatch_below_cosine"),
        ("fused", "match_min_score", -2.0, "checks.match.fused.match_min_score"),
    ],
)
def test_bad_band_names_the_key(model: str, key: str, value: object, named: str) -> None:
    doc = _default_document()
    doc["checks"]["match"][model][key] = value
    with pytest.raises(PolicyError, match=re.escape(named)):
        parse_policy(doc)


def test_model_must_be_named() -> None:
    doc = _default_document()
    del doc["checks"]["match"]["model"]
    with pytest.raises(PolicyError, match=r"checks\.match\.model: Field required"):
        parse_policy(doc)


@pytest.mark.parametrize("model", ["sface", "dlib", "fused"])
def test_the_chosen_model_needs_its_bands(model: str) -> None:
    doc = _default_document()
    doc["checks"]["match"]["model"] = model
    del doc["checks"]["match"][model]
    with pytest.raises(PolicyError, match=re.escape(f"[checks.match.{model}]")):
        parse_policy(doc)
    # Another model's bands may be left out.
    doc["checks"]["match"]["model"] = next(m for m in ("sface", "dlib", "fused") if m != model)
    assert parse_policy(doc).checks.match.model != model


@pytest.mark.parametrize(
    ("model", "match", "mismatch", "words"),
    [
        ("sface", ("match_min_cosine", 0.3), ("mismatch_below_cosine", 0.4), "must not be below"),
        ("fused", ("match_min_score", 0.3), ("mismatch_below_score", 0.4), "must not be below"),
    ],
)
def test_crossed_similarity_bands_are_refused(
    model: str, match: tuple[str, float], mismatch: tuple[str, float], words: str
) -> None:
    doc = _default_document()
    doc["checks"]["match"][model] = dict([match, mismatch])
    with pytest.raises(PolicyError, match=rf"checks\.match\.{model}: .*{words}"):
        parse_policy(doc)


def test_equal_match_bounds_are_allowed() -> None:
    doc = _default_document()
    doc["checks"]["match"]["dlib"]["match_max_distance"] = 0.5
    doc["checks"]["match"]["dlib"]["mismatch_above_distance"] = 0.5
    doc["checks"]["match"]["sface"]["match_min_cosine"] = 0.3
    doc["checks"]["match"]["sface"]["mismatch_below_cosine"] = 0.3
    match = parse_policy(doc).checks.match
    assert match.dlib is not None and match.dlib.match_max_distance == match.dlib.mismatch_above_distance == 0.5
    assert match.sface is not None and match.sface.match_min_cosine == match.sface.mismatch_below_cosine


@pytest.mark.parametrize("section", ["policy", "photos", "checks"])
def test_missing_top_level_section_is_named(section: str) -> None:
    doc = _default_document()
    del doc[section]
    with pytest.raises(PolicyError, match=rf"{section}: Field required"):
        parse_policy(doc)


def test_missing_threshold_is_named() -> None:
    doc = _default_document()
    del doc["checks"]["clarity"]["min_sharpness"]
    with pytest.raises(PolicyError, match=r"checks\.clarity\.min_sharpness: Field required"):
        parse_policy(doc)


def test_unknown_photo_kind_in_max_faces_and_compare() -> None:
    doc = _default_document()
    doc["photos"]["max_faces"]["selfie"] = 1
    doc["checks"]["match"]["compare"] = [["id_portrait", "selfie"]]
    with pytest.raises(PolicyError) as info:
        parse_policy(doc)
    assert "photos.max_faces.selfie" in str(info.value)
    assert "checks.match.compare.0.1" in str(info.value)


def test_unknown_top_level_key() -> None:
    doc = _default_document()
    doc["thresholds"] = {"x": 1}
    with pytest.raises(PolicyError, match=r"thresholds: unknown key"):
        parse_policy(doc)
