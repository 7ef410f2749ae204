"""A review base for the web app's tests: made-up subscribers whose photos are small generated images
(with a measured face box and landmarks), a run that sends them to review, reviewers with passwords,
and the app over it with a clock the test moves."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import waitress
from diff_runs import NOW, Person, add_people, add_run
from flask import Flask
from PIL import Image
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from scanner.db import open_engine, write_engine_for
from scanner.photos import PhotoBytes, read_photo
from scanner.policyfile import load_policy
from scanner.review.items import sync_items
from scanner.review.reviewers import add_reviewer
from scanner.tables import FINDING, MEASUREMENT, PHOTO, REVIEW_ITEM
from scanner.web.app import create_app

T0 = NOW + dt.timedelta(days=1)
PASSWORD = "correct horse battery"
SECRET = b"a test key of more than thirty-two bytes"
REASON = "FACE_MATCH_UNCERTAIN"


@dataclass
class Clock:
    at: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.at

    def move(self, **delta: float) -> dt.datetime:
        self.at += dt.timedelta(**delta)
        return self.at


@dataclass
class WebBase:
    url: str
    engine: Engine
    app: Flask
    clock: Clock
    folder: Path
    reviewers: dict[str, int] = field(default_factory=dict)

    def items(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(REVIEW_ITEM).order_by(REVIEW_ITEM.c.id))]

    def photo_ids(self, subscriber_id: int) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(PHOTO.c.kind, PHOTO.c.id).where(PHOTO.c.subscriber_id == subscriber_id))
            return {kind: int(pid) for kind, pid in rows}


def _image(path: Path, seed: int) -> PhotoBytes:
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.normal(128, 40, (120, 100, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return read_photo(str(path))


@contextmanager
def serving(app: Flask, threads: int = 4) -> Iterator[str]:
    """``app`` served by waitress on a free loopback port, in a thread; yields its root URL."""
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    finally:
        server.close()
        thread.join(timeout=10)


def build(url: str, folder: Path, people: int = 5, *, with_reviewers: bool = True) -> WebBase:
    """``people`` subscribers, each with an ID portrait and a live photo and one review item."""
    open_engine(url)
    engine = write_engine_for(url)
    persons = [Person(i) for i in range(1, people + 1)]
    add_people(engine, persons)
    photo_rows, measurements = [], []
    for p in persons:
        for kind in ("id_portrait", "live"):
            photo = _image(folder / f"{p.id}-{kind}.jpg", p.id * 10 + len(kind))
            photo_rows.append({"subscriber_id": p.id, "kind": kind, "uri": photo.uri, "sha256": photo.sha256})
            landmarks = [30.0, 50.0, 70.0, 50.0, 50.0, 65.0, 35.0, 85.0, 65.0, 85.0]
            values = {"width_px": 100, "height_px": 120, "face_count": 1, "face_box": [20.0, 30.0, 80.0, 100.0]}
            measurements.append(
                {"photo_sha256": photo.sha256, "extractor_version": "t", "values": {**values, "landmarks": landmarks}}
            )
    with engine.begin() as conn:
        conn.execute(insert(PHOTO), photo_rows)
        conn.execute(insert(MEASUREMENT), measurements)
    add_run(engine, 1, {p.id: ("review", [REASON]) for p in persons})
    evidence = [
        {
            "code": REASON,
            "severity": "review",
            "photo_kind": "id_portrait~live",
            "measure": "face_cosine",
            "value": 0.31,
            "threshold": 0.4,
            "comparison": "<",
        }
    ]
    with engine.begin() as conn:
        conn.execute(update(FINDING).values(evidence=evidence, distances={"id_portrait~live:face_cosine": 0.31}))
    sync_items(engine, T0)
    clock = Clock()
    app = create_app(engine, load_policy(None), secret=SECRET, clock=clock)
    app.config["TESTING"] = False  # CSRF is checked as in production
    base = WebBase(url, engine, app, clock, folder)
    if with_reviewers:
        for login, role in (("wang", "reviewer"), ("li", "reviewer"), ("boss", "officer")):
            base.reviewers[login] = add_reviewer(
                engine, login=login, name=login.title(), role=role, password=PASSWORD, actor="t", now=T0
            )
    return base
