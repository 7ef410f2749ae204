"""The unit of work sent to executors: read, hash, decode and measure one photo.

Runs in worker processes (or on cluster workers): no database access here,
only the photo's path or URL in and plain data out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from checks.photo import EXTRACTOR_VERSION, measure_photo
from scanner.photos import PhotoReadError, decode_photo, read_photo


@dataclass(frozen=True)
class PhotoTask:
    photo_id: int
    uri: str


@dataclass(frozen=True)
class PhotoOutcome:
    photo_id: int
    sha256: str | None
    size_bytes: int | None
    measurement: dict[str, Any] | None
    error: str | None
    seconds: float
    extractor_version: str = EXTRACTOR_VERSION


def measure_task(task: PhotoTask) -> PhotoOutcome:
    started = time.perf_counter()
    sha256: str | None = None
    size: int | None = None
    try:
        photo = read_photo(task.uri)
        sha256, size = photo.sha256, len(photo.data)
        measurement = measure_photo(decode_photo(photo)).to_dict()
        return PhotoOutcome(task.photo_id, sha256, size, measurement, None, time.perf_counter() - started)
    except PhotoReadError as exc:
        return PhotoOutcome(task.photo_id, sha256, size, None, str(exc), time.perf_counter() - started)
    except Exception as exc:  # a photo that breaks a check must not stop the run
        error = f"could not be measured ({type(exc).__name__}: {exc}): {task.uri}"
        return PhotoOutcome(task.photo_id, sha256, size, None, error, time.perf_counter() - started)
