"""Read stored photos in place (local path or fsspec URL) and decode them to RGB."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 100_000_000  # a decompression bomb beyond this is refused
MAX_BYTES = 64 * 1024 * 1024
# Pillow's own guard (about 89 MP by default) would fire first; ours is the limit.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class PhotoReadError(Exception):
    """A photo that cannot be used; the message says why in plain words."""


@dataclass(frozen=True)
class PhotoBytes:
    uri: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def read_photo(uri: str) -> PhotoBytes:
    """The bytes of the photo at ``uri`` (a path or any fsspec URL)."""
    try:
        if "://" in uri:
            with fsspec.open(uri, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)
        else:
            with Path(uri).open("rb") as fh:
                data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise PhotoReadError(f"file not found: {uri}") from None
    except IsADirectoryError:
        raise PhotoReadError(f"is a directory, not a photo: {uri}") from None
    except PermissionError:
        raise PhotoReadError(f"permission denied: {uri}") from None
    except OSError as exc:
        raise PhotoReadError(f"cannot read {uri}: {exc}") from None
    except Exception as exc:  # a URL's back end has errors of its own (HTTP status, timeouts, ...)
        raise PhotoReadError(f"cannot read {uri}: {type(exc).__name__}: {exc}") from None
    if not data:
        raise PhotoReadError(f"empty file (0 bytes): {uri}")
    if len(data) > MAX_BYTES:
        raise PhotoReadError(f"file larger than {MAX_BYTES // (1024 * 1024)} MiB: {uri}")
    return PhotoBytes(uri, data)


def _to_rgb8(image: Image.Image) -> npt.NDArray[np.uint8]:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def decode_photo(photo: PhotoBytes) -> npt.NDArray[np.uint8]:
    """Decode to an upright RGB ``uint8`` array; raise ``PhotoReadError`` if unusable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(photo.data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise PhotoReadError(
                    f"image of {width}x{height} px ({width * height / 1e6:g} MP) exceeds the "
                    f"{MAX_PIXELS / 1e6:g} MP limit (possible decompression bomb): {photo.uri}"
                )
            image.load()
            image = ImageOps.exif_transpose(image)
            return _to_rgb8(image)
    except PhotoReadError:
        raise
    except UnidentifiedImageError:
        raise PhotoReadError(f"not an image (unrecognised format): {photo.uri}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoReadError(f"decompression bomb refused ({exc}): {photo.uri}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        text = str(exc)
        if "truncated" in text.lower():
            raise PhotoReadError(f"truncated image data: {photo.uri}") from None
        raise PhotoReadError(f"corrupt image ({text}): {photo.uri}") from None
