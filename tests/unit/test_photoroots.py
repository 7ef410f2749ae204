"""Photo references are read only under the roots the operator names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.photoroots import PhotoRefError, PhotoRoots


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "base" / "photos").mkdir(parents=True)
    (tmp_path / "base" / "photos" / "a.jpg").write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.jpg").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere" / "secret.jpg", tmp_path / "base" / "photos" / "link.jpg")
    return tmp_path


def test_paths_inside_the_import_folder_resolve_and_others_are_refused(tree: Path) -> None:
    base = tree / "base"
    roots = PhotoRoots.of([str(base)], base)
    assert roots.locate("photos/a.jpg") == str(base / "photos" / "a.jpg")
    assert roots.locate(str(base / "photos" / "a.jpg")) == str(base / "photos" / "a.jpg")
    assert roots.locate(f"file://{base}/photos/a.jpg") == str(base / "photos" / "a.jpg")
    for probe in ("../../../etc/passwd", "/etc/shadow", "file:///etc/shadow", "photos/../../elsewhere/secret.jpg"):
        with pytest.raises(PhotoRefError, match="outside the photo roots"):
            roots.locate(probe)
    # A symbolic link is followed: what it points to must be under a root too.
    with pytest.raises(PhotoRefError, match=r"outside the photo roots \(.*elsewhere/secret\.jpg"):
        roots.locate("photos/link.jpg")


def test_a_folder_root_is_not_a_name_prefix(tree: Path) -> None:
    (tree / "base2").mkdir()
    roots = PhotoRoots.of([str(tree / "base")], tree)
    with pytest.raises(PhotoRefError):
        roots.locate(str(tree / "base2" / "x.jpg"))


def test_urls_need_a_url_root_of_the_same_scheme_host_and_path(tree: Path) -> None:
    roots = PhotoRoots.of([str(tree / "base"), "https://photos.example.cn/base"], tree)
    assert roots.locate("https://photos.example.cn/base/2024/a.jpg") == "https://photos.example.cn/base/2024/a.jpg"
    assert roots.locate("HTTPS://PHOTOS.example.cn/base/a.jpg")  # scheme and host are not case-sensitive
    refused = {
        "http://photos.example.cn/base/a.jpg": "scheme 'http'",
        "https://10.0.0.1/base/a.jpg": "host '10.0.0.1'",
        "https://photos.example.cn/basement/a.jpg": "not under the photo roots",
        "https://photos.example.cn/base/../admin": "'..' are not accepted",
        "https://photos.example.cn/base/%2e%2e/admin": "'..' are not accepted",
        "s3://bucket/base/a.jpg": "scheme 's3'",
        "memory://base/a.jpg": "scheme 'memory'",
        "zip://a.jpg::https://photos.example.cn/base/x.zip": "chained",
    }
    for ref, why in refused.items():
        with pytest.raises(PhotoRefError, match=why.replace("(", r"\(").replace(".", r"\.")):
            roots.locate(ref)


def test_without_a_url_root_no_url_is_read(tree: Path) -> None:
    roots = PhotoRoots.of([str(tree / "base")], tree)
    with pytest.raises(PhotoRefError, match=r"roots: .*base\)"):
        roots.locate("http://127.0.0.1:8000/a.jpg")


def test_a_url_root_needs_a_host() -> None:
    with pytest.raises(PhotoRefError, match="needs a host"):
        PhotoRoots.of(["https:///x"], Path("/"))


@given(st.lists(st.sampled_from(["..", ".", "photos", "a.jpg", "x", "", "~"]), min_size=1, max_size=8))
def test_whatever_the_path_a_located_photo_is_under_a_root(parts: list[str]) -> None:
    base = Path("/srv/base")
    roots = PhotoRoots.of([str(base)], base)
    try:
        located = roots.locate("/".join(parts))
    except PhotoRefError:
        return
    assert Path(located).is_relative_to(base)
