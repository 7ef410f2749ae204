"""Reading stored photos in place and decoding them to upright RGB."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scanner import photos
from scanner.photos import PhotoBytes, PhotoReadError, decode_photo, read_photo

IMAGES = Path(__file__).resolve().parents[2] / "fixtures" / "images"


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def halves(width: int = 60, height: int = 40) -> np.ndarray:
    """Left half red, right half blue."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[:, : width // 2] = (220, 20, 20)
    arr[:, width // 2 :] = (20, 20, 220)
    return arr


def decode_bytes(data: bytes, name: str = "mem.img") -> np.ndarray:
    return decode_photo(PhotoBytes(name, data))


def assert_rgb8(arr: np.ndarray, height: int, width: int) -> None:
    assert arr.dtype == np.uint8
    assert arr.shape == (height, width, 3)
    assert arr.flags["C_CONTIGUOUS"]


def png_header_only(width: int, height: int) -> bytes:
    """A 1-bit greyscale PNG that claims ``width`` x ``height`` pixels but carries a few bytes of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


# --- reading -----------------------------------------------------------------------------------


def test_read_photo_from_path(tmp_path: Path) -> None:
    data = encode(Image.fromarray(halves()), "PNG")
    file = tmp_path / "a.png"
    file.write_bytes(data)
    got = read_photo(str(file))
    assert got.data == data
    assert got.uri == str(file)
    assert got.sha256 == hashlib.sha256(data).hexdigest()


def test_read_photo_from_file_url(tmp_path: Path) -> None:
    data = encode(Image.fromarray(halves()), "PNG")
    file = tmp_path / "b.png"
    file.write_bytes(data)
    url = file.resolve().as_uri()
    assert url.startswith("file:///")
    got = read_photo(url)
    assert got.data == data
    assert_rgb8(decode_photo(got), 40, 60)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(PhotoReadError, match="file not found") as info:
        read_photo(str(missing))
    assert str(missing) in str(info.value)


def test_missing_file_url(tmp_path: Path) -> None:
    url = (tmp_path / "nope.jpg").as_uri()
    with pytest.raises(PhotoReadError, match="file not found") as info:
        read_photo(url)
    assert "nope.jpg" in str(info.value)


def test_directory_is_not_a_photo(tmp_path: Path) -> None:
    with pytest.raises(PhotoReadError, match="directory") as info:
        read_photo(str(tmp_path))
    assert str(tmp_path) in str(info.value)


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photos, "MAX_BYTES", 100)
    file = tmp_path / "big.jpg"
    file.write_bytes(b"\xff" * 101)
    with pytest.raises(PhotoReadError, match="larger than") as info:
        read_photo(str(file))
    assert str(file) in str(info.value)
    file.write_bytes(b"\xff" * 100)
    assert len(read_photo(str(file)).data) == 100


# --- broken files committed under fixtures/images -------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("corrupt.jpg", "corrupt"),
        ("truncated.jpg", "truncated"),
        ("empty.jpg", "empty"),
        ("not_an_image.jpg", "not an image"),
    ],
)
def test_broken_fixture_images(name: str, why: str) -> None:
    file = IMAGES / name
    assert file.exists(), f"fixture missing: {file} (run fixtures/make_images.py)"
    with pytest.raises(PhotoReadError) as info:
        decode_photo(read_photo(str(file)))
    message = str(info.value)
    assert why in message.lower(), message
    assert str(file) in message, message
    assert isinstance(info.value, PhotoReadError) and not isinstance(info.value, OSError)


def test_truncated_png_in_memory() -> None:
    data = encode(Image.fromarray((np.random.default_rng(1).random((80, 80, 3)) * 255).astype(np.uint8)), "PNG")
    with pytest.raises(PhotoReadError) as info:
        decode_bytes(data[: len(data) // 2], "half.png")
    assert "half.png" in str(info.value)
    assert "truncated" in str(info.value).lower() or "corrupt" in str(info.value).lower()


# --- decompression bombs ---------------------------------------------------------------------


def test_decompression_bomb_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = png_header_only(20000, 20000)
    assert len(data) < 200

    def no_decoding(self: Image.Image, *args: object, **kwargs: object) -> None:
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(Image.Image, "convert", no_decoding)
    with pytest.raises(PhotoReadError) as info:
        decode_bytes(data, "bomb.png")
    assert "decompression bomb" in str(info.value)
    assert "bomb.png" in str(info.value)


def test_max_pixels_limit_is_enforced_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(Image.fromarray(halves(200, 100)), "PNG")
    loads: list[int] = []
    original_load = Image.Image.load

    def counting_load(self: Image.Image, *args: object, **kwargs: object) -> object:
        loads.append(1)
        return original_load(self)

    monkeypatch.setattr(Image.Image, "load", counting_load)
    monkeypatch.setattr(photos, "MAX_PIXELS", 200 * 100 - 1)
    with pytest.raises(PhotoReadError) as info:
        decode_bytes(data, "wide.png")
    assert "decompression bomb" in str(info.value)
    assert "200x100" in str(info.value)
    assert "wide.png" in str(info.value)
    assert loads == []

    monkeypatch.setattr(photos, "MAX_PIXELS", 200 * 100)
    assert_rgb8(decode_bytes(data, "wide.png"), 100, 200)


# --- modes and orientation -----------------------------------------------------------------


def test_rgb_jpeg() -> None:
    arr = decode_bytes(encode(Image.fromarray(halves()), "JPEG", quality=95))
    assert_rgb8(arr, 40, 60)
    left, right = arr[:, :20].mean(axis=(0, 1)), arr[:, 40:].mean(axis=(0, 1))
    assert left[0] > 150 > left[2] and right[2] > 150 > right[0]


def test_rgba_is_composited_on_white() -> None:
    rgba = np.zeros((30, 40, 4), dtype=np.uint8)
    rgba[:, :20] = (200, 10, 10, 255)  # opaque red
    rgba[:, 20:] = (10, 10, 200, 0)  # fully transparent
    arr = decode_bytes(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert_rgb8(arr, 30, 40)
    assert arr[:, :20, 0].mean() > 150 and arr[:, :20, 2].mean() < 60
    assert arr[:, 20:].min() > 240  # transparent shows the white background


def test_la_greyscale_with_alpha() -> None:
    la = Image.new("LA", (32, 24), (40, 255))
    la.paste((40, 0), (16, 0, 32, 24))  # right half transparent
    arr = decode_bytes(encode(la, "PNG"))
    assert_rgb8(arr, 24, 32)
    assert arr[:, :16].max() < 80
    assert arr[:, 16:].min() > 240
    assert np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])


def test_palette_image() -> None:
    p = Image.fromarray(halves()).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert p.mode == "P"
    arr = decode_bytes(encode(p, "PNG"))
    assert_rgb8(arr, 40, 60)
    assert arr[:, :20, 0].mean() > 150 and arr[:, 40:, 2].mean() > 150


def test_palette_image_with_transparency() -> None:
    p = Image.new("P", (20, 10), 0)
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    p.paste(1, (10, 0, 20, 10))
    data = encode(p, "PNG", transparency=1)
    arr = decode_bytes(data)
    assert_rgb8(arr, 10, 20)
    assert arr[:, :10, 0].min() > 240 and arr[:, :10, 2].max() < 20
    assert arr[:, 10:].min() > 240  # the transparent index shows white


def test_greyscale_l() -> None:
    grey = np.tile(np.linspace(0, 255, 50).astype(np.uint8), (20, 1))
    arr = decode_bytes(encode(Image.fromarray(grey, "L"), "PNG"))
    assert_rgb8(arr, 20, 50)
    assert np.array_equal(arr[..., 0], arr[..., 2])
    assert arr[:, 0].mean() < 10 and arr[:, -1].mean() > 245


def test_16_bit_greyscale() -> None:
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    image = Image.fromarray(ramp)
    assert image.mode.startswith("I;16")
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode in ("I;16", "I")
    arr = decode_bytes(data)
    assert_rgb8(arr, 16, 64)
    row = arr[0, :, 0].astype(int)
    assert row[0] < 5 and row[-1] > 250
    assert np.all(np.diff(row) >= 0)  # the ramp keeps its order, scaled down, not clipped
    assert 100 < row[32] < 160


def test_cmyk_jpeg() -> None:
    cmyk = Image.fromarray(halves()).convert("CMYK")
    data = encode(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    arr = decode_bytes(data)
    assert_rgb8(arr, 40, 60)
    left, right = arr[:, :20].mean(axis=(0, 1)), arr[:, 40:].mean(axis=(0, 1))
    assert left[0] > left[2] + 80, left
    assert right[2] > right[0] + 80, right


@pytest.mark.parametrize(
    ("orientation", "red_side"),
    [(1, "left"), (3, "right"), (6, "top"), (8, "bottom")],
)
def test_exif_orientation_is_applied(orientation: int, red_side: str) -> None:
    """The stored pixels have red on the left; the EXIF tag says how to turn them upright."""
    image = Image.fromarray(halves(60, 40))
    exif = Image.Exif()
    exif[0x0112] = orientation
    arr = decode_bytes(encode(image, "JPEG", quality=95, exif=exif.tobytes()))
    turned = orientation in (6, 8)
    assert_rgb8(arr, 60 if turned else 40, 40 if turned else 60)
    h, w = arr.shape[:2]
    regions = {
        "left": arr[:, : w // 3],
        "right": arr[:, -w // 3 :],
        "top": arr[: h // 3],
        "bottom": arr[-h // 3 :],
    }
    red = regions[red_side].mean(axis=(0, 1))
    assert red[0] > 150 and red[2] < 100, (orientation, red)
    opposite = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}[red_side]
    blue = regions[opposite].mean(axis=(0, 1))
    assert blue[2] > 150 and blue[0] < 100, (orientation, blue)


def test_32_bit_integer_and_float_images() -> None:
    ints = Image.fromarray(np.tile(np.arange(0, 1000, 10, dtype=np.int32), (5, 1)), "I")
    arr = decode_bytes(encode(ints, "TIFF"))
    assert_rgb8(arr, 5, 100)
    assert arr[0, 0, 0] < arr[0, -1, 0]
    floats = Image.fromarray(np.tile(np.linspace(0, 1, 30, dtype=np.float32), (4, 1)), "F")
    arr = decode_bytes(encode(floats, "TIFF"))
    assert_rgb8(arr, 4, 30)
    assert arr[0, 0, 0] < 5 and arr[0, -1, 0] > 250


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server over ``tmp_path`` (127.0.0.1, a free port), stopped afterwards."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_photo_is_read_over_http_and_a_missing_one_is_named(http_server: str, tmp_path: Path) -> None:
    picture = Image.new("RGB", (40, 30), (200, 120, 40))
    picture.save(tmp_path / "face.jpg", quality=95)
    photo = photos.read_photo(f"{http_server}/face.jpg")
    assert photo.data == (tmp_path / "face.jpg").read_bytes()
    assert photos.decode_photo(photo).shape == (30, 40, 3)
    with pytest.raises(photos.PhotoReadError, match=r"file not found: http://127\.0\.0\.1:\d+/gone\.jpg"):
        photos.read_photo(f"{http_server}/gone.jpg")
