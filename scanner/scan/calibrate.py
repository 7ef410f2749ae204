"""Measure a policy's error rates on a labelled photo set before using it.

Reads ``DIR/manifest.csv`` (``file``, ``identity``, ``attributes`` as a ``;``
list), measures every photo and derived variants of the clear ones (Gaussian,
motion and defocus blur at two strengths relative to the face width, JPEG at two
qualities, darkened, dimmed with sensor noise at two light levels, overexposed), judges each
under the policy, and computes: face-found rate on clear photos, per attribute
the share flagged with the matching reason, clear photos wrongly flagged, and
face-match accept rates per band and over thresholds; and how copies of the
pair photos (re-saved, resized, cropped) and different captures of one person
compare with the policy's copy bound.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from checks.judge import MATCH_MEASURES, PhotoInput, copy_likeness, judge_photo, match_band, match_bands, match_score
from checks.photo import PhotoMeasurement
from checks.policy import MATCH_MODELS, Policy
from scanner.scan.executors import Executor
from scanner.scan.measuretask import MOTION_ANGLES_DEG, PhotoOutcome, PhotoTask, measure_task

CALIBRATION_SCHEMA = "realname-scanner/calibration/1"

# The reason that names each manifest attribute.
ATTRIBUTE_REASONS: dict[str, tuple[str, ...]] = {
    "mask": ("MOUTH_NOSE_OCCLUDED",),
    "sunglasses": ("EYES_OCCLUDED",),
    "hand": ("HAND_OVER_FACE", "EYES_OCCLUDED", "MOUTH_NOSE_OCCLUDED"),
    "hat": ("HEAD_COVERED",),
    "no_face": ("NO_FACE",),
    "multi_face": ("MULTIPLE_FACES",),
    "blurry": ("BLURRY",),
    "low_light": ("TOO_DARK",),
}
QUALITY_REASONS = {"BLURRY", "TOO_DARK", "TOO_BRIGHT"}
OCCLUSION_REASONS = {"EYES_OCCLUDED", "MOUTH_NOSE_OCCLUDED", "HEAD_COVERED", "HAND_OVER_FACE"}

# Derived variants of clear photos: name -> (task variants, parameter, reasons that name it).
# Where several task variants are named, the photos take them in turn (motion blur along four
# directions). Blur sizes (Gaussian sigma, motion path length, defocus disk radius) are shares of
# the detected face width (see FACE_WIDTH_KINDS).
MOTION = tuple(f"motion_{angle}" for angle in MOTION_ANGLES_DEG)
VARIANT_SPECS: dict[str, tuple[str | tuple[str, ...], float, tuple[str, ...]]] = {
    "blur_weak": ("blur", 0.03, ("BLURRY",)),
    "blur_strong": ("blur", 0.06, ("BLURRY",)),
    "motion_weak": (MOTION, 0.08, ("BLURRY",)),
    "motion_strong": (MOTION, 0.16, ("BLURRY",)),
    "defocus_weak": ("defocus", 0.03, ("BLURRY",)),
    "defocus_strong": ("defocus", 0.06, ("BLURRY",)),
    "jpeg_weak": ("jpeg", 15.0, ("BLURRY",)),
    "jpeg_strong": ("jpeg", 5.0, ("BLURRY",)),
    "darkened": ("darken", 0.2, ("TOO_DARK",)),
    "low_light_weak": ("low_light", 1 / 16, ("TOO_DARK",)),
    "low_light_strong": ("low_light", 1 / 256, ("TOO_DARK",)),
    "overexposed": ("brighten", 150.0, ("TOO_BRIGHT",)),
}
FACE_WIDTH_KINDS = frozenset({"blur", "defocus", *MOTION})
# Copies of the pair photos, as a live photo made from a stored portrait would be: name -> (task variant, parameter).
COPY_SPECS: dict[str, tuple[str, float]] = {
    "copy_resaved": ("jpeg", 60.0),
    "copy_half_size": ("rescale", 0.5),
    "copy_cropped": ("crop", 0.1),
    "copy_mirrored": ("mirror", 0.0),
}
# Thresholds of each model's accept-rate table: dlib distances 0.30 .. 0.70, cosines and fused scores 0.10 .. 0.60.
THRESHOLDS: dict[str, tuple[float, ...]] = {
    "dlib": tuple(round(0.30 + 0.025 * i, 3) for i in range(17)),
    "sface": tuple(round(0.10 + 0.025 * i, 3) for i in range(21)),
    "fused": tuple(round(0.10 + 0.025 * i, 3) for i in range(21)),
}
# The impostor accept rates at which each model's genuine accept is reported.
IMPOSTOR_RATES = (0.001, 0.0001)
# Pair sources: both photos AFDB face crops (``afdb_*`` identities, ~100 px), neither, or one of each.
PAIR_SOURCES = ("afdb", "other", "mixed")


class CalibrationError(Exception):
    pass


@dataclass(frozen=True)
class LabelledPhoto:
    file: str
    identity: str
    attributes: frozenset[str]
    source: str = ""  # the manifest's source_repo: where the photo comes from


@dataclass
class PhotoResult:
    photo: LabelledPhoto
    variant: str | None
    measurement: PhotoMeasurement | None
    error: str | None
    verdict: str
    reasons: list[str]

    @property
    def face_found(self) -> bool:
        return self.measurement is not None and self.measurement.face_count > 0


@dataclass
class Calibration:
    policy_name: str
    policy_version: str
    results: list[PhotoResult] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def read_manifest(faces: Path) -> list[LabelledPhoto]:
    manifest = faces / "manifest.csv"
    if not manifest.is_file():
        raise CalibrationError(f"{manifest}: not found")
    with manifest.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "identity", "attributes"} - set(reader.fieldnames or [])
        if missing:
            raise CalibrationError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
        return [
            LabelledPhoto(
                file=row["file"],
                identity=(row["identity"] or "").strip(),
                attributes=frozenset(a.strip() for a in (row["attributes"] or "").split(";") if a.strip()),
                source=(row.get("source_repo") or "").strip(),
            )
            for row in reader
        ]


def _result(photo: LabelledPhoto, variant: str | None, outcome: PhotoOutcome, policy: Policy) -> PhotoResult:
    measurement = PhotoMeasurement.from_dict(outcome.measurement) if outcome.measurement else None
    judged = judge_photo(PhotoInput(kind="live", measurement=measurement, error=outcome.error), policy)
    return PhotoResult(photo, variant, measurement, outcome.error, judged.verdict.value, judged.codes)


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a rate of ``k`` in ``n`` (95% with the default ``z``)."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _share(results: list[PhotoResult], pred: Callable[[PhotoResult], bool]) -> dict[str, Any]:
    n = len(results)
    k = sum(1 for r in results if pred(r))
    lo, hi = wilson_interval(k, n)
    return {"n": n, "count": k, "rate": round(k / n, 4) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def _has_any(codes: tuple[str, ...]) -> Callable[[PhotoResult], bool]:
    return lambda r: bool(set(codes) & set(r.reasons))


def _group(rows: list[PhotoResult], wanted: tuple[str, ...]) -> dict[str, Any]:
    """How a group of photos (one attribute or one variant) came out."""
    return {
        "expected_reasons": list(wanted),
        "flagged": _share(rows, _has_any(wanted)),
        "not_passed": _share(rows, lambda r: r.verdict != "pass"),
        "failed": _share(rows, lambda r: r.verdict == "fail"),
        "no_face": _share(rows, lambda r: "NO_FACE" in r.reasons),
    }


def _source(a: LabelledPhoto, b: LabelledPhoto) -> str:
    afdb = [p.file.split("/")[1].startswith("afdb_") if p.file.count("/") >= 2 else False for p in (a, b)]
    return "afdb" if all(afdb) else ("other" if not any(afdb) else "mixed")


def _pairs(results: list[PhotoResult], policy: Policy, prefix: str) -> list[dict[str, Any]]:
    usable = [
        r
        for r in results
        if r.variant is None
        and r.photo.file.startswith(prefix)
        and r.photo.identity not in ("", "unknown")
        and r.measurement is not None
        and r.measurement.descriptor is not None
    ]
    rules = policy.checks.match
    pairs = []
    for i, j in itertools.combinations(range(len(usable)), 2):
        ma, mb = usable[i].measurement, usable[j].measurement
        assert ma is not None and mb is not None
        scores = {model: match_score(model, ma, mb) for model in MATCH_MODELS}
        distance = scores["dlib"]
        assert distance is not None
        bands = {}
        for model, score in scores.items():
            thresholds = match_bands(rules, model)
            bands[model] = None if score is None or thresholds is None else match_band(model, score, thresholds)
        pairs.append(
            {
                "a": usable[i].photo.file,
                "b": usable[j].photo.file,
                "genuine": usable[i].photo.identity == usable[j].photo.identity,
                "source": _source(usable[i].photo, usable[j].photo),
                "distance": round(distance, 4),
                "cosine": None if scores["sface"] is None else round(scores["sface"], 4),
                "fused": None if scores["fused"] is None else round(scores["fused"], 4),
                "band": bands[rules.model],
                "bands": bands,
                "likeness": _likeness(usable[i], usable[j]),
            }
        )
    return pairs


_PAIR_SCORE = {"dlib": "distance", "sface": "cosine", "fused": "fused"}


def _accepted(model: str, values: np.ndarray[Any, Any], threshold: float) -> np.ndarray[Any, Any]:
    return values >= threshold if MATCH_MEASURES[model][1] else values <= threshold


def _at_impostor_rate(model: str, genuine: np.ndarray[Any, Any], impostor: np.ndarray[Any, Any]) -> dict[str, Any]:
    """For each of ``IMPOSTOR_RATES``: the strictest-needed threshold that accepts at most that share of
    impostor pairs, and the share of genuine pairs it accepts."""
    out: dict[str, Any] = {}
    larger = MATCH_MEASURES[model][1]
    for rate in IMPOSTOR_RATES:
        key = f"{rate:.2%}"
        if not len(impostor) or not len(genuine):
            out[key] = None
            continue
        ranked = np.sort(impostor)[::-1] if larger else np.sort(impostor)
        allowed = int(np.floor(rate * len(impostor)))  # impostor pairs that may be accepted
        edge = float(ranked[allowed]) if allowed < len(ranked) else None  # the first impostor to refuse
        share = 1.0 if edge is None else float(np.mean(genuine > edge if larger else genuine < edge))
        out[key] = {
            "threshold_past": None if edge is None else round(edge, 4),
            "genuine_accept": round(share, 4),
            "impostor_pairs": len(impostor),
        }
    return out


def _model_summary(model: str, pairs: list[dict[str, Any]], policy: Policy) -> dict[str, Any]:
    field_name = _PAIR_SCORE[model]
    scored = [p for p in pairs if p[field_name] is not None]
    genuine = np.array([p[field_name] for p in scored if p["genuine"]], dtype=np.float64)
    impostor = np.array([p[field_name] for p in scored if not p["genuine"]], dtype=np.float64)
    thresholds = match_bands(policy.checks.match, model)

    def bands(label: str) -> dict[str, Any]:
        got = [p["bands"][model] for p in scored if p["genuine"] == (label == "genuine")]
        return {
            "pairs": len(got),
            **{
                b: round(got.count(b) / len(got), 4) if got and thresholds else None
                for b in ("match", "review", "mismatch")
            },
        }

    by_source = {}
    for source in PAIR_SOURCES:
        g = np.array([p[field_name] for p in scored if p["genuine"] and p["source"] == source], dtype=np.float64)
        i = np.array([p[field_name] for p in scored if not p["genuine"] and p["source"] == source], dtype=np.float64)
        by_source[source] = {
            "genuine_pairs": len(g),
            "impostor_pairs": len(i),
            "at_impostor_accept": _at_impostor_rate(model, g, i),
        }
    return {
        "measure": MATCH_MEASURES[model][0],
        "larger_is_alike": MATCH_MEASURES[model][1],
        "bands": None if thresholds is None else {"match": thresholds[0], "mismatch": thresholds[1]},
        "unscored_pairs": len(pairs) - len(scored),
        "genuine": bands("genuine"),
        "impostor": bands("impostor"),
        "at_impostor_accept": _at_impostor_rate(model, genuine, impostor),
        "by_source": by_source,
        "over_thresholds": [
            {
                "threshold": t,
                "genuine_accept": round(float(np.mean(_accepted(model, genuine, t))), 4) if len(genuine) else None,
                "impostor_accept": round(float(np.mean(_accepted(model, impostor, t))), 4) if len(impostor) else None,
            }
            for t in THRESHOLDS[model]
        ],
    }


def _likeness(a: PhotoResult, b: PhotoResult) -> float | None:
    alike = copy_likeness(a.measurement, b.measurement)
    return None if alike is None else round(alike, 4)


def _copies(cal: Calibration, policy: Policy) -> dict[str, Any]:
    """How copies of the pair photos and different captures of one person compare with the copy bound."""
    bound = policy.checks.match.copy_min_likeness
    originals = {r.photo.file: r for r in cal.results if r.variant is None}
    out: dict[str, Any] = {"min_likeness": bound, "copies": {}}
    for name in COPY_SPECS:
        values = [
            _likeness(originals[r.photo.file], r)
            for r in cal.results
            if r.variant == name and r.photo.file in originals
        ]
        known = [v for v in values if v is not None]
        out["copies"][name] = {
            "n": len(values),
            "flagged": sum(v >= bound for v in known),
            "rate": round(sum(v >= bound for v in known) / len(values), 4) if values else None,
            "lowest_likeness": min(known) if known else None,
        }
    genuine = [p["likeness"] for p in cal.pairs if p["genuine"] and p["likeness"] is not None]
    out["genuine_pairs"] = {
        "n": len(genuine),
        "flagged": sum(v >= bound for v in genuine),
        "highest_likeness": max(genuine) if genuine else None,
    }
    return out


def _sface_distance(a: PhotoMeasurement | None, b: PhotoMeasurement | None) -> float | None:
    cosine = None if a is None or b is None else match_score("sface", a, b)
    return None if cosine is None else round(1.0 - cosine, 4)


# Faces in the base an impostor rate is read against: a face is compared with every other.
BASE_FACES = 1_000_000


def _same_face(cal: Calibration, policy: Policy) -> dict[str, Any]:
    """How the base-wide same-face bound (``[checks.base] same_face_max_distance``, SFace cosine distance)
    treats different persons, two captures of one person, and copies of one photo.

    The labelled set has far fewer impostor pairs than a base: with none inside the bound the measured
    rate is 0 and only its 95% upper bound says anything, so both are given, and what that upper bound
    would mean for one face searched against a base of ``BASE_FACES``."""
    bound = policy.checks.base.same_face_max_distance
    distances = [(p["genuine"], p["source"], 1.0 - p["cosine"]) for p in cal.pairs if p["cosine"] is not None]

    def within(rows: list[float]) -> dict[str, Any]:
        k = sum(d <= bound for d in rows)
        _low, high = wilson_interval(k, len(rows))
        return {
            "pairs": len(rows),
            "within": k,
            "rate": round(k / len(rows), 6) if rows else None,
            "rate_95_upper": round(high, 6) if rows else None,
            "nearest": round(min(rows), 4) if rows else None,
        }

    impostor = within([d for g, _s, d in distances if not g])
    genuine = within([d for g, _s, d in distances if g])
    by_source = {
        source: {
            "genuine": within([d for g, s, d in distances if g and s == source]),
            "impostor": within([d for g, s, d in distances if not g and s == source]),
        }
        for source in PAIR_SOURCES
    }
    originals = {r.photo.file: r for r in cal.results if r.variant is None}
    copies = {}
    for name in COPY_SPECS:
        found = [
            _sface_distance(originals[r.photo.file].measurement, r.measurement)
            for r in cal.results
            if r.variant == name and r.photo.file in originals
        ]
        copies[name] = within([d for d in found if d is not None])
    upper = impostor["rate_95_upper"]
    tail = _tail_rate([d for g, _s, d in distances if not g], bound)
    return {
        "measure": "same_face_distance",
        "max_distance": bound,
        "genuine": genuine,
        "impostor": impostor,
        "by_source": by_source,
        "copies": copies,
        "base_faces": BASE_FACES,
        "other_persons_per_face_95_upper": None if upper is None else round(upper * (BASE_FACES - 1), 1),
        "impostor_tail_rate": None if tail is None else float(f"{tail:.3g}"),
        "other_persons_per_face_tail": None if tail is None else round(tail * (BASE_FACES - 1), 3),
    }


def _tail_rate(impostor: list[float], bound: float) -> float | None:
    """The share of different persons' pairs within ``bound``, extrapolated from the nearest part of
    their distances (between 0.1% and 5% of the pairs): log of the share against the distance, fitted
    by a straight line. A model, not a measurement; None with too few pairs to fit."""
    ranked = np.sort(np.asarray(impostor, dtype=np.float64))
    n = len(ranked)
    lo, hi = int(np.ceil(0.001 * n)), int(np.floor(0.05 * n))
    if hi - lo < 10:
        return None
    ranks = np.arange(lo, hi)
    slope, intercept = np.polyfit(ranked[ranks], np.log((ranks + 1) / n), 1)
    return float(min(1.0, np.exp(slope * bound + intercept)))


def _photo_figures(results: list[PhotoResult]) -> dict[str, Any]:
    """The per-photo rates of ``results`` (originals and their derived variants)."""
    originals = [r for r in results if r.variant is None]
    clear = [r for r in originals if r.photo.attributes == {"clear"}]
    figures: dict[str, Any] = {
        "photos": len(originals),
        "unreadable": sum(1 for r in originals if r.measurement is None),
        "face_found_clear": _share(clear, lambda r: r.face_found),
        "clear_wrongly_flagged": _share(clear, lambda r: bool((QUALITY_REASONS | OCCLUSION_REASONS) & set(r.reasons))),
        "clear_no_face": _share(clear, lambda r: "NO_FACE" in r.reasons),
        "attributes": {},
        "variants": {},
    }
    for attribute, wanted in ATTRIBUTE_REASONS.items():
        rows = [r for r in originals if attribute in r.photo.attributes]
        if rows:
            figures["attributes"][attribute] = _group(rows, wanted)
    for name, (_kind, _param, wanted) in VARIANT_SPECS.items():
        rows = [r for r in results if r.variant == name]
        if rows:
            figures["variants"][name] = _group(rows, wanted)
    return figures


def _summary(cal: Calibration, policy: Policy, pairs_prefix: str) -> dict[str, Any]:
    summary = _photo_figures(cal.results)
    # The same rates per source repository: a rule that holds on one source and fails on another shows here.
    sources = sorted({r.photo.source for r in cal.results})
    summary["by_source"] = {
        source or "(unknown)": _photo_figures([r for r in cal.results if r.photo.source == source])
        for source in sources
    }
    rules = policy.checks.match
    models = {model: _model_summary(model, cal.pairs, policy) for model in MATCH_MODELS}
    chosen = models[rules.model]
    summary["copies"] = _copies(cal, policy)
    summary["same_face"] = _same_face(cal, policy)
    summary["face_match"] = {
        "pairs_from": pairs_prefix,
        "model": rules.model,
        "measure": chosen["measure"],
        "bands": chosen["bands"],
        "genuine": chosen["genuine"],
        "impostor": chosen["impostor"],
        "over_thresholds": chosen["over_thresholds"],
        "models": models,
    }
    return summary


def calibrate(
    faces: Path,
    policy: Policy,
    executor: Executor,
    *,
    pairs_prefix: str = "identities/",
    on_progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    photos = read_manifest(faces)
    cal = Calibration(policy_name=policy.name, policy_version=policy.version)
    # dlib's descriptor (measured only when asked for) on the pair photos, for the dlib and fused figures.
    tasks = [PhotoTask(i, str(faces / p.file), dlib=p.file.startswith(pairs_prefix)) for i, p in enumerate(photos)]
    total = len(tasks)
    done = 0
    for outcome in executor.map(measure_task, tasks):
        cal.results.append(_result(photos[outcome.photo_id], None, outcome, policy))
        done += 1
        if on_progress:
            on_progress(done, total)

    clear = [r for r in cal.results if r.photo.attributes == {"clear"} and r.measurement and r.face_found]
    variant_tasks: list[PhotoTask] = []
    labels: dict[int, tuple[LabelledPhoto, str]] = {}
    for turn, r in enumerate(clear):
        assert r.measurement is not None and r.measurement.face_width_px is not None
        for name, (kinds, param, _reasons) in VARIANT_SPECS.items():
            kind = kinds if isinstance(kinds, str) else kinds[turn % len(kinds)]
            value = param * r.measurement.face_width_px if kind in FACE_WIDTH_KINDS else param
            labels[len(variant_tasks)] = (r.photo, name)
            variant_tasks.append(PhotoTask(len(variant_tasks), str(faces / r.photo.file), kind, value))
    pair_photos = [
        r
        for r in cal.results
        if r.variant is None and r.photo.file.startswith(pairs_prefix) and r.measurement and r.face_found
    ]
    for r in pair_photos:
        for name, (kind, param) in COPY_SPECS.items():
            labels[len(variant_tasks)] = (r.photo, name)
            variant_tasks.append(PhotoTask(len(variant_tasks), str(faces / r.photo.file), kind, param))
    total += len(variant_tasks)
    for outcome in executor.map(measure_task, variant_tasks):
        photo, name = labels[outcome.photo_id]
        cal.results.append(_result(photo, name, outcome, policy))
        done += 1
        if on_progress:
            on_progress(done, total)

    cal.pairs = _pairs(cal.results, policy, pairs_prefix)
    cal.summary = _summary(cal, policy, pairs_prefix)
    return cal


def to_json(cal: Calibration) -> dict[str, Any]:
    def measurements(m: PhotoMeasurement | None) -> dict[str, Any] | None:
        if m is None:
            return None
        values = m.to_dict()
        values.pop("descriptor", None)
        values.pop("sface_feature", None)
        return values

    return {
        "schema": CALIBRATION_SCHEMA,
        "policy": {"name": cal.policy_name, "version": cal.policy_version},
        "summary": cal.summary,
        "photos": [
            {
                "file": r.photo.file,
                "identity": r.photo.identity,
                "attributes": sorted(r.photo.attributes),
                "variant": r.variant,
                "face_found": r.face_found,
                "measurements": measurements(r.measurement),
                "error": r.error,
                "verdict": r.verdict,
                "reasons": r.reasons,
            }
            for r in cal.results
        ],
        "pairs": cal.pairs,
    }
