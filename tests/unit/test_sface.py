"""SFace, the face recognizer: its model files are checked, and it tells people apart on real photos."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from checks import face as face_adapter
from checks.face import ModelFileError, face_cosine, sface_feature, verified_model_path
from checks.photo import find_faces
from scanner.photos import decode_photo, read_photo
from scanner.policyfile import load_policy


# The identities outside the AFDB crops (identities/ of ../shared/faces): East Asian, Western and others.
def _identities(faces_dir: Path) -> list[str]:
    return sorted(p.name for p in (faces_dir / "identities").iterdir() if not p.name.startswith("afdb_"))


def test_the_shipped_model_files_pass_their_check() -> None:
    for name in face_adapter.SFACE_MODEL_FILES:
        assert Path(verified_model_path(name)).is_file()


def test_a_model_file_with_another_sha256_is_refused(tmp_path: Path) -> None:
    filename, expected = face_adapter.SFACE_MODEL_FILES["sface"]
    shutil.copyfile(face_adapter.model_folder() / filename, tmp_path / filename)
    data = bytearray((tmp_path / filename).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / filename).write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as info:
        verified_model_path("sface", tmp_path)
    message = str(info.value)
    assert filename in message and f"expected {expected}" in message
    assert "not the file the match bands were calibrated with" in message


def test_a_missing_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot be read"):
        verified_model_path("sface_detector", tmp_path)


def _features(faces_dir: Path) -> list[tuple[str, npt.NDArray[np.float32]]]:
    out = []
    for identity in _identities(faces_dir):
        for path in sorted((faces_dir / "identities" / identity).iterdir()):
            rgb = decode_photo(read_photo(str(path)))
            work, found = find_faces(rgb)
            assert found, path
            feature = sface_feature(rgb, work.to_original(found[0]))
            if feature is not None:
                out.append((identity, feature))
    return out


def _scores(features: list[tuple[str, npt.NDArray[np.float32]]]) -> tuple[list[float], list[float]]:
    genuine, impostor = [], []
    for (ia, fa), (ib, fb) in itertools.combinations(features, 2):
        (genuine if ia == ib else impostor).append(face_cosine(fa, fb))
    return genuine, impostor


@pytest.mark.faces
def test_sface_accepts_genuine_pairs_and_rejects_impostors(faces_dir: Path) -> None:
    match = load_policy().policy.checks.match.sface
    assert match is not None
    features = _features(faces_dir)
    genuine, impostor = _scores(features)
    g, i = np.asarray(genuine), np.asarray(impostor)
    assert len(features) >= 100 and len(g) >= 150 and len(i) >= 5000
    # Measured on these 104 faces: 172 of 173 genuine pairs are a match at the default policy's
    # threshold, 2 of 5,183 impostor pairs are (0.04%), and 87% of impostor pairs are a mismatch.
    accepted = float(np.mean(g >= match.match_min_cosine))
    assert accepted >= 0.97, f"{accepted:.1%} of genuine pairs accepted"
    assert np.mean(i >= match.match_min_cosine) <= 0.001
    assert np.mean(g < match.mismatch_below_cosine) <= 0.02
    assert np.mean(i < match.mismatch_below_cosine) >= 0.8
