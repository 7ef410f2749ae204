"""`realname calibrate` on a small labelled subset of the face set, read in place."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli.app import app
from scanner.policyfile import load_policy
from scanner.scan.calibrate import VARIANT_SPECS, calibrate, wilson_interval
from scanner.scan.executors import InProcess

pytestmark = [pytest.mark.faces, pytest.mark.slow]


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Path:
    """A small labelled set: links to the originals plus a manifest (no copies)."""
    with (faces_dir / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    chosen = [
        r for r in rows if r["identity"] in ("obama", "biden", "kit_harington") and r["file"].startswith("identities/")
    ]
    chosen += [r for r in rows if r["file"].startswith("no_face/")][:2]
    chosen += [r for r in rows if r["file"].startswith("occlusion/mask/")][:2]
    root = tmp_path_factory.mktemp("labelled")
    for r in chosen:
        (root / r["file"]).parent.mkdir(parents=True, exist_ok=True)
        (root / r["file"]).symlink_to(faces_dir / r["file"])
    with (root / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        columns = ["file", "source_repo", "identity", "attributes", "license"]
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for r in chosen:
            writer.writerow({k: r[k] for k in columns})
    return root


def test_rates_pairs_and_variants(subset: Path) -> None:
    policy = load_policy().policy
    cal = calibrate(subset, policy, InProcess())
    s = cal.summary
    originals = [r for r in cal.results if r.variant is None]
    clear = [r for r in originals if r.photo.attributes == {"clear"}]
    assert s["photos"] == len(originals) == len(clear) + 4
    assert s["face_found_clear"]["rate"] >= 0.9
    assert s["clear_wrongly_flagged"]["rate"] == 0.0
    assert s["attributes"]["no_face"]["flagged"]["count"] >= 1
    assert s["attributes"]["mask"]["flagged"]["n"] == 2

    # Every clear photo with a face has each variant once; darkening is always caught.
    found = sum(1 for r in clear if r.face_found)
    for name in VARIANT_SPECS:
        assert s["variants"][name]["flagged"]["n"] == found
    assert s["variants"]["darkened"]["flagged"]["rate"] == 1.0
    assert s["variants"]["blur_strong"]["not_passed"]["rate"] >= 0.9

    # The same rates per source repository, each with its 95% Wilson interval around it.
    sources = {r.photo.source for r in originals}
    assert len(sources) >= 2 and "" not in sources
    assert set(s["by_source"]) == sources
    assert sum(f["photos"] for f in s["by_source"].values()) == s["photos"]
    assert sum(f["face_found_clear"]["n"] for f in s["by_source"].values()) == s["face_found_clear"]["n"]
    for figures in [s, *s["by_source"].values()]:
        for share in (figures["face_found_clear"], *(g["flagged"] for g in figures["attributes"].values())):
            if share["n"]:
                lo, hi = share["ci95"]
                assert lo <= share["rate"] <= hi and hi - lo > 0

    # Pairs: every two identity photos with a descriptor, genuine when the identity is the same.
    with_descriptor = [r for r in originals if r.photo.file.startswith("identities/") and r.face_found]
    assert len(cal.pairs) == len(list(itertools.combinations(with_descriptor, 2)))
    genuine = [p for p in cal.pairs if p["genuine"]]
    assert genuine and all(p["a"].split("/")[1] == p["b"].split("/")[1] for p in genuine)
    fm = s["face_match"]
    assert fm["genuine"]["pairs"] == len(genuine)
    assert abs(sum(fm["impostor"][b] for b in ("match", "review", "mismatch")) - 1.0) < 1e-3
    assert fm["impostor"]["match"] <= 0.05
    assert fm["model"] == "sface" and fm["measure"] == "face_cosine"
    assert set(fm["models"]) == {"sface", "dlib", "fused"}
    for model, row in fm["models"].items():
        assert row["genuine"]["pairs"] == len(genuine) and row["unscored_pairs"] == 0
        rates = [r["impostor_accept"] for r in row["over_thresholds"]]
        # Accept rates never fall as a distance threshold rises, nor rise as a similarity threshold does.
        assert rates == (sorted(rates, reverse=True) if row["larger_is_alike"] else sorted(rates)), model
        for at in row["at_impostor_accept"].values():
            assert at is None or 0.0 <= at["genuine_accept"] <= 1.0
    assert all(p["bands"]["dlib"] in ("match", "review", "mismatch") for p in cal.pairs)

    # The base-wide same-face bound: different persons, captures of one person, copies of one photo.
    sf = s["same_face"]
    assert sf["max_distance"] == 0.2 and sf["measure"] == "same_face_distance"
    assert sf["genuine"]["pairs"] == len(genuine) and sf["impostor"]["pairs"] == len(cal.pairs) - len(genuine)
    assert sf["impostor"]["within"] == 0 and sf["impostor"]["nearest"] > 0.2  # measured: 0.54 on the full set
    assert 0 < sf["impostor"]["rate_95_upper"] < 0.5  # a small subset: a wide interval around 0
    resaved = sf["copies"]["copy_resaved"]
    assert resaved["pairs"] and resaved["within"] >= 0.9 * resaved["pairs"]  # measured: 97% on the full set
    within_genuine = [p for p in genuine if 1 - p["cosine"] <= 0.2]
    assert sf["genuine"]["within"] == len(within_genuine)


def test_cli_json_lists_every_photo_and_pair(subset: Path, tmp_path: Path) -> None:
    out = tmp_path / "cal.json"
    result = CliRunner().invoke(
        app, ["calibrate", "--faces", str(subset), "--format", "json", "-o", str(out), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["schema"] == "realname-scanner/calibration/1"
    files = {p["file"] for p in data["photos"] if p["variant"] is None}
    with (subset / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        assert files == {r["file"] for r in csv.DictReader(fh)}
    assert data["summary"]["photos"] == len(files)
    for photo in data["photos"]:
        assert {"file", "face_found", "measurements", "verdict", "reasons"} <= photo.keys()
        if photo["measurements"]:
            assert "descriptor" not in photo["measurements"]
    assert all({"a", "b", "distance", "cosine", "fused", "band", "bands", "genuine"} <= p.keys() for p in data["pairs"])

    text = CliRunner().invoke(app, ["calibrate", "--faces", str(subset), "--workers", "1", "--by", "source"])
    assert text.exit_code == 0, text.output
    assert "face found, clear photos" in text.output and "impostor" in text.output
    assert "model sface (face_cosine)" in text.output and "at 0.01%" in text.output
    assert "Per source (95% Wilson intervals)" in text.output and "ageitgey/face_recognition" in text.output
    assert "FACE_UNDER_OTHER_ID: SFace distance <= 0.2 across the base" in text.output


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (95, 100, 0.8882, 0.9785), (3, 3, 0.4385, 1.0)],
)
def test_wilson_intervals_are_the_textbook_ones(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["calibrate", "--faces", str(tmp_path)])
    assert result.exit_code == 2
    assert "manifest.csv: not found" in result.output
