"""The unit of work sent to executors: read, hash, decode and measure one photo.

Runs in worker processes (or on cluster workers): no database access here,
only the photo's path or URL in and plain data out.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checks import variants
from checks.photo import (
    EXTRACTOR_PARTS,
    EXTRACTOR_VERSION,
    PhotoMeasurement,
    lacks_descriptor,
    measure_photo,
    reusable_parts,
)
from scanner.photos import PhotoReadError, decode_photo, read_photo

# Motion blur is derived along these directions (degrees from horizontal), one per photo in turn.
MOTION_ANGLES_DEG = (0, 45, 90, 135)

# Derived variants (for calibration): name -> function(rgb, parameter).
VARIANTS: dict[str, Callable[[variants.RGB, float], variants.RGB]] = {
    "blur": variants.gaussian_blur,  # parameter: sigma in px
    **{  # parameter: length of the path in px
        f"motion_{angle}": functools.partial(variants.motion_blur, angle_deg=float(angle))
        for angle in MOTION_ANGLES_DEG
    },
    "defocus": variants.defocus_blur,  # parameter: radius of the disk in px
    "low_light": variants.low_light,  # parameter: share of the original light
    "darken": variants.scale_exposure,  # parameter: factor
    "brighten": variants.add_exposure,  # parameter: offset
    "jpeg": variants.reencode_jpeg,  # parameter: quality
    "rescale": variants.rescale,  # parameter: factor
    "crop": variants.crop_border,  # parameter: share of width and height removed
    "mirror": variants.mirror,  # parameter: unused
}


@dataclass(frozen=True)
class PhotoTask:
    photo_id: int
    uri: str
    variant: str | None = None  # measure a derived copy instead of the photo itself
    variant_param: float = 0.0
    # An earlier measurement of the photo with the sha256 recorded for it, and
    # its extractor version: parts still current are reused when the file's
    # sha256 is still that one.
    cached_sha256: str | None = None
    cached_version: str | None = None
    cached: dict[str, Any] | None = None
    # Measure dlib's descriptor too (the policy's match model reads it; see
    # ``checks.photo.lacks_descriptor``), adding it to a cached measurement without one.
    dlib: bool = False


@dataclass(frozen=True)
class PhotoOutcome:
    photo_id: int
    sha256: str | None
    size_bytes: int | None
    measurement: dict[str, Any] | None
    error: str | None
    seconds: float
    extractor_version: str = EXTRACTOR_VERSION
    reused_all: bool = False  # the file still has the cached sha256 and every part was current: not decoded
    # Every part was current but dlib's descriptor was missing and has been added:
    # the stored measurement gets the descriptor, no new row.
    added_descriptor: bool = False


def measure_task(task: PhotoTask) -> PhotoOutcome:
    started = time.perf_counter()
    sha256: str | None = None
    size: int | None = None
    try:
        photo = read_photo(task.uri)
        sha256, size = photo.sha256, len(photo.data)
        if task.variant is None and task.cached is not None and task.cached_sha256 == sha256:
            parts = reusable_parts(task.cached_version or "")
            if parts == set(EXTRACTOR_PARTS) and not (task.dlib and lacks_descriptor(task.cached)):
                return PhotoOutcome(
                    task.photo_id, sha256, size, task.cached, None, time.perf_counter() - started, reused_all=True
                )
        rgb = decode_photo(photo)
        if task.variant is not None:
            rgb = VARIANTS[task.variant](rgb, task.variant_param)
        reuse, parts = None, frozenset[str]()
        if task.cached is not None and task.cached_version and task.cached_sha256 == sha256 and task.variant is None:
            reuse, parts = PhotoMeasurement.from_dict(task.cached), reusable_parts(task.cached_version)
        measurement = measure_photo(rgb, reuse, parts, dlib=task.dlib).to_dict()
        seconds = time.perf_counter() - started
        added = reuse is not None and parts == set(EXTRACTOR_PARTS)
        return PhotoOutcome(
            task.photo_id, sha256, size, measurement, None, seconds, EXTRACTOR_VERSION, added_descriptor=added
        )
    except PhotoReadError as exc:
        return PhotoOutcome(task.photo_id, sha256, size, None, str(exc), time.perf_counter() - started)
    except Exception as exc:  # a photo that breaks a check must not stop the run
        error = f"could not be measured ({type(exc).__name__}: {exc}): {task.uri}"
        return PhotoOutcome(task.photo_id, sha256, size, None, error, time.perf_counter() - started)
