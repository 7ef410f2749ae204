"""The text report as an officer reads it: review subscribers in their own list, every reason in plain
words with its severity, the photo kind and file it was measured on, numbers masked."""

from __future__ import annotations

import hashlib
from pathlib import Path

from diff_runs import Person, add_people, add_run
from sqlalchemy import insert, update
from typer.testing import CliRunner

from scanner.cli.app import app
from scanner.db import open_engine
from scanner.policyfile import DEFAULT_POLICY
from scanner.tables import FINDING, PHOTO, SCAN_RUN

runner = CliRunner()


def _evidence(code: str, severity: str, kind: str, measure: str, value: float, threshold: float, rel: str) -> dict:
    return {
        "code": code,
        "severity": severity,
        "photo_kind": kind,
        "measure": measure,
        "value": value,
        "threshold": threshold,
        "comparison": rel,
        "detail": "",
    }


MASK = _evidence("MOUTH_NOSE_OCCLUDED", "fail", "live", "mouth_nose_skin_share", 0.03, 0.125, "<")
HAT = _evidence("HEAD_COVERED", "review", "live", "head_cover_share", 0.9, 0.62, ">")
UNSURE = _evidence("FACE_MATCH_UNCERTAIN", "review", "id_portrait~live", "face_cosine", 0.3, 0.4, "<")


def _base(tmp_path: Path) -> tuple[str, list[Person]]:
    url = f"sqlite:///{tmp_path / 'report.db'}"
    engine = open_engine(url)
    people = [Person(i) for i in range(1, 6)]
    add_people(engine, people)
    findings = {1: ("fail", [MASK, HAT]), 2: ("fail", [MASK]), 3: ("fail", [MASK]), 4: ("review", [UNSURE])}
    findings[5] = ("review", [HAT])
    add_run(engine, 1, {sid: (verdict, [e["code"] for e in ev]) for sid, (verdict, ev) in findings.items()})
    with engine.begin() as conn:
        for sid, (_verdict, ev) in findings.items():
            conn.execute(update(FINDING).where(FINDING.c.subscriber_id == sid).values(evidence=ev))
        conn.execute(
            update(SCAN_RUN).values(
                policy_path=str(DEFAULT_POLICY),
                policy_sha256=hashlib.sha256(DEFAULT_POLICY.read_bytes()).hexdigest(),
                totals={
                    "verdicts": {"fail": 3, "review": 2},
                    "reasons": {"MOUTH_NOSE_OCCLUDED": 3, "HEAD_COVERED": 2, "FACE_MATCH_UNCERTAIN": 1},
                },
            )
        )
        # Operators name photo files after the ID number: the report shows the file, the number masked.
        conn.execute(
            insert(PHOTO),
            [
                {"subscriber_id": p.id, "kind": kind, "uri": f"/photos/2019/{p.id_number}-{kind}.jpg"}
                for p in people
                for kind in ("id_portrait", "live")
            ],
        )
    return url, people


def test_review_subscribers_have_their_own_list_and_reasons_read_in_plain_words(tmp_path: Path) -> None:
    url, people = _base(tmp_path)
    result = runner.invoke(app, ["report", "--limit", "1", "--lang", "en", "--database", url], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    # Table cells wrap at the console's width: read the output with the borders and line ends taken out.
    out = " ".join(result.output.replace("│", " ").split())
    assert "Failing subscribers: 3" in out and "... 2 more not shown" in out
    assert "Subscribers for review: 2" in out and "ACC00004" in out  # not hidden behind the failing list
    assert "... 1 more not shown" in out
    # The failing row's own reason first, the review-only one after it, each with its severity.
    assert out.index("MOUTH_NOSE_OCCLUDED [fail]") < out.index("HEAD_COVERED [review]")
    assert "The mouth and nose are covered" in out and "share of skin where the mouth and nose are 0.03 < 0.125" in out
    # The photo kind and file it was measured on; the number in the file name masked.
    masked = people[0].id_number[:3] + "*" * 11 + people[0].id_number[-4:]
    assert f"live photo (2019/{masked}-live.jpg)" in out
    assert "FACE_MATCH_UNCERTAIN [review]" in out and "ID portrait vs live photo" in out
    # The reasons table says what each reason means and how the run's policy ranks it.
    reasons = {line.split()[0]: line.split()[1:3] for line in result.output.splitlines() if "│" in line}
    assert reasons["HEAD_COVERED"] == ["│", "review"] and reasons["MOUTH_NOSE_OCCLUDED"] == ["│", "fail"]
    for p in people:
        assert p.msisdn not in result.output and p.id_number not in result.output


def test_the_default_language_is_chinese_and_a_changed_policy_file_is_said(tmp_path: Path) -> None:
    url, _people = _base(tmp_path)
    result = runner.invoke(app, ["report", "--database", url], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "不通过的用户: 3" in result.output and "待人工复核的用户: 2" in result.output
    assert "口鼻被遮挡（如口罩或手），无法核验。" in result.output and "[复核]" in result.output
    engine = open_engine(url)
    with engine.begin() as conn:
        conn.execute(update(SCAN_RUN).values(policy_sha256="0" * 64))
    result = runner.invoke(app, ["report", "--database", url], env={"COLUMNS": "400"})
    assert "policy file has changed or moved since" in " ".join(result.output.split())
    assert runner.invoke(app, ["report", "--lang", "fr", "--database", url]).exit_code == 2
