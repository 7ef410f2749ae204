"""A photo as the review page shows it: read from where the base keeps it, decoded upright the way the
checks decoded it (so the measured face box and landmarks fall where they were measured), and sent as a
fresh JPEG, which carries none of the original file's metadata (camera, place, time).

The page and the photo request that follows it both need the photo; a small cache of the last few
prepared photos (keyed by the file's path, size and modification time) saves decoding it twice. A photo
that cannot be read or decoded gives the reason instead, which the page shows in the photo's place.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

from scanner.photos import PhotoBytes, PhotoReadError, decode_photo, read_photo

MAX_SIDE = 1600  # larger photos are scaled down for the page; the overlay scales with them
CACHED = 24


@dataclass(frozen=True)
class Prepared:
    jpeg: bytes | None
    problem: str | None  # why there is no picture: missing, unreadable, not an image
    sha256: str | None  # of the file as read now
    width: int = 0  # of the decoded photo, in the pixels the checks measured
    height: int = 0


_cache: OrderedDict[tuple[str, int, int], Prepared] = OrderedDict()
_lock = threading.Lock()


def _key(uri: str) -> tuple[str, int, int] | None:
    if "://" in uri:
        return None  # a remote photo is read each time: its version is not known without reading it
    try:
        stat = os.stat(uri)
    except OSError:
        return None
    return (uri, stat.st_size, stat.st_mtime_ns)


def prepare(uri: str) -> Prepared:
    key = _key(uri)
    if key is not None:
        with _lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    result = _prepare(uri)
    if key is not None:
        with _lock:
            _cache[key] = result
            while len(_cache) > CACHED:
                _cache.popitem(last=False)
    return result


def _prepare(uri: str) -> Prepared:
    try:
        photo: PhotoBytes = read_photo(uri)
    except PhotoReadError as exc:
        return Prepared(None, _plain(str(exc), uri), None)
    try:
        pixels = decode_photo(photo)
    except PhotoReadError as exc:
        return Prepared(None, _plain(str(exc), uri), photo.sha256)
    image = Image.fromarray(pixels)
    height, width = pixels.shape[:2]
    if max(width, height) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return Prepared(out.getvalue(), None, photo.sha256, width, height)


def _plain(message: str, uri: str) -> str:
    """The reason without the file's full path (the page names the file by its last part)."""
    return message.replace(uri, uri.rsplit("/", 1)[-1])
