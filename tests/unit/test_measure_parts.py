"""A measurement is five versioned parts; a new part version recomputes that part alone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from checks import face as face_adapter
from checks import photo
from checks.photo import (
    EXTRACTOR_PARTS,
    PhotoMeasurement,
    compose_version,
    lacks_descriptor,
    measure_photo,
    reusable_parts,
)
from scanner.photos import decode_photo, read_photo

FILES = (
    "identities/afdb_qiwei/02.jpg",
    "clarity/obama_480p.jpg",
    "occlusion/sunglasses/unknown_selfie_sunglasses_049.jpeg",
)


def test_reusable_parts_follow_the_part_versions() -> None:
    every = {"faces", "clarity", "occlusion", "likeness", "hands"}
    assert reusable_parts(compose_version(EXTRACTOR_PARTS)) == every
    assert reusable_parts(compose_version({**EXTRACTOR_PARTS, "occlusion": "occlusion-0"})) == every - {"occlusion"}
    assert reusable_parts(compose_version({**EXTRACTOR_PARTS, "clarity": "quality-0"})) == every - {"clarity"}
    # A measurement made before the likeness part existed keeps its other parts: only the signature is new.
    before = "faces={faces};clarity={clarity};occlusion={occlusion}".format(**EXTRACTOR_PARTS)
    assert reusable_parts(before) == every - {"likeness", "hands"}
    # Before the hands part: the hands alone are measured.
    before_hands = ";".join(f"{k}={v}" for k, v in EXTRACTOR_PARTS.items() if k != "hands")
    assert reusable_parts(before_hands) == every - {"hands"}
    # Clarity and occlusion are measured where the faces part found the face.
    assert reusable_parts(compose_version({**EXTRACTOR_PARTS, "faces": "photo-0/face-0"})) == set()
    # A new recognizer (same detection and landmarks): the faces part is measured again, the rest kept
    # (the measurement made before SFace has the geometry alone as its faces version).
    before_sface = compose_version({**EXTRACTOR_PARTS, "faces": photo.FACES_GEOMETRY_VERSION})
    assert reusable_parts(before_sface) == every - {"faces"}
    new_recognizer = f"{photo.FACES_GEOMETRY_VERSION}+sface-0"
    assert reusable_parts(compose_version({**EXTRACTOR_PARTS, "faces": new_recognizer})) == every - {"faces"}
    assert reusable_parts("photo-9+face-2+quality-1+occlusion-5") == set()  # before parts existed


def forbid(monkeypatch: pytest.MonkeyPatch, module: ModuleType, names: Iterable[str], why: str) -> None:
    """Make calling any of ``module``'s functions ``names`` fail the test with ``why``."""

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError(why)

    for name in names:
        monkeypatch.setattr(module, name, forbidden)


@pytest.mark.faces
def test_a_new_occlusion_version_recomputes_occlusion_without_detection(
    faces_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = [decode_photo(read_photo(str(faces_dir / f))) for f in FILES]
    full = [measure_photo(rgb) for rgb in images]
    assert all(m.face_count for m in full)

    forbid(monkeypatch, photo, ("find_faces",), "the faces part was recomputed")
    forbid(monkeypatch, face_adapter, ("landmarks",), "the faces part was recomputed")
    for rgb, m in zip(images, full, strict=True):
        stale = replace(m, mouth_nose_skin_share=-1.0, eye_skin_luma_ratio=-1.0, eyes_seen=-1, head_cover_share=-1.0)
        again = measure_photo(rgb, stale, frozenset({"faces", "clarity", "likeness", "hands"}))
        assert again == m  # occlusion measured anew, the same as a full measurement
        blurred_clarity = replace(m, sharpness=-1.0, mean_luma=-1.0)
        assert measure_photo(rgb, blurred_clarity, frozenset({"faces", "occlusion", "likeness", "hands"})) == m
        unsigned = replace(m, face_signature=None)  # measured before signatures existed
        assert measure_photo(rgb, unsigned, frozenset({"faces", "clarity", "occlusion", "hands"})) == m
        unhanded = replace(m, hand_over_face=None)  # measured before the hands part existed
        assert measure_photo(rgb, unhanded, frozenset({"faces", "clarity", "occlusion", "likeness"})) == m
        # Every part current: nothing is measured, the stored values come back.
        assert measure_photo(rgb, stale, frozenset({"faces", "clarity", "occlusion", "likeness", "hands"})) == stale


@pytest.mark.faces
def test_without_the_faces_part_everything_is_measured(faces_dir: Path) -> None:
    rgb = decode_photo(read_photo(str(faces_dir / FILES[1])))
    m = measure_photo(rgb)
    wrong = replace(m, face_box=(0.0, 0.0, 10.0, 10.0), sharpness=-1.0, descriptor=tuple(np.zeros(128).tolist()))
    assert measure_photo(rgb, wrong, frozenset({"clarity", "occlusion", "likeness", "hands"})) == m
    assert PhotoMeasurement.from_dict(m.to_dict()) == m


@pytest.mark.faces
def test_a_new_recognizer_remeasures_faces_and_keeps_the_other_parts(
    faces_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = [decode_photo(read_photo(str(faces_dir / f))) for f in FILES]
    full = [measure_photo(rgb) for rgb in images]
    assert all(m.sface_feature for m in full)

    other_parts = ("_measure_clarity", "_measure_occlusion", "_measure_likeness")
    forbid(monkeypatch, photo, other_parts, "a part other than the faces part was measured")
    for rgb, m in zip(images, full, strict=True):
        before_sface = replace(m, sface_feature=None)  # stored by the extractor before SFace
        assert measure_photo(rgb, before_sface, frozenset({"clarity", "occlusion", "likeness", "hands"})) == m


@pytest.mark.faces
def test_dlib_descriptor_is_measured_when_asked_and_added_to_a_stored_measurement(
    faces_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = [decode_photo(read_photo(str(faces_dir / f))) for f in FILES]
    plain = [measure_photo(rgb) for rgb in images]
    with_dlib = [measure_photo(rgb, dlib=True) for rgb in images]
    for m, d in zip(plain, with_dlib, strict=True):
        assert m.descriptor is None and lacks_descriptor(m) and lacks_descriptor(m.to_dict())
        assert d.descriptor is not None and len(d.descriptor) == 128 and not lacks_descriptor(d)
        assert replace(d, descriptor=None) == m  # nothing else differs

    steps = ("find_faces", "_measure_clarity", "_measure_occlusion", "_measure_likeness")
    forbid(monkeypatch, photo, steps, "detection or a part other than the descriptor ran again")
    every = frozenset(EXTRACTOR_PARTS)
    for rgb, m, d in zip(images, plain, with_dlib, strict=True):
        assert measure_photo(rgb, m, every, dlib=True) == d
        assert measure_photo(rgb, d, every, dlib=True) == d  # already there: nothing measured
    faceless = PhotoMeasurement(width_px=10, height_px=10, face_count=0)
    assert not lacks_descriptor(faceless)
