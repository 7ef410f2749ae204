"""Where photos may be read from: folders and URL prefixes the operator names.

A photo reference in an import file is a path or a URL written by whoever made
the file. Read as it is, ``../../../etc/passwd`` or ``file:///etc/shadow`` would
be opened (and ``http://10.0.0.1/admin`` fetched) by a process that can read the
subscriber base. So every reference is resolved (relative paths against the
import file's folder, symbolic links followed, ``..`` removed) and accepted only
when it lies under one of the roots: a folder, or a URL prefix such as
``https://photos.example.cn/base/``, which also decides the URL schemes allowed.
Chained fsspec URLs (``zip://a::file:///x``) are never accepted.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class PhotoRefError(ValueError):
    """A photo reference outside the roots, or one that cannot be a photo reference; says which and why."""


def is_url(ref: str) -> bool:
    return _SCHEME.match(ref) is not None


def _url_key(url: str) -> tuple[str, str, str]:
    """(scheme, host, normalised path ending in '/' for a folder) of a URL, for prefix tests."""
    parts = urlsplit(url)
    path = posixpath.normpath(unquote(parts.path) or "/")
    if parts.path.endswith("/") and not path.endswith("/"):
        path += "/"
    return parts.scheme.lower(), parts.netloc.lower(), path


@dataclass(frozen=True)
class PhotoRoots:
    folders: tuple[Path, ...]
    urls: tuple[str, ...]
    base_dir: Path  # relative paths resolve against this folder

    @classmethod
    def of(cls, roots: Sequence[str], base_dir: Path) -> PhotoRoots:
        """Roots from folder paths (relative ones against ``base_dir``) and URL prefixes."""
        folders, urls = [], []
        for root in roots:
            if is_url(root) and not root.lower().startswith("file://"):
                if "::" in root or not urlsplit(root).netloc:
                    raise PhotoRefError(f"photo root {root!r}: a URL root needs a host and may not be chained")
                urls.append(root if root.endswith("/") else root + "/")
            else:
                local = unquote(urlsplit(root).path) if is_url(root) else root
                path = Path(local).expanduser()
                folders.append((path if path.is_absolute() else base_dir / path).resolve())
        return cls(tuple(folders), tuple(urls), base_dir.resolve())

    def describe(self) -> str:
        return ", ".join([*(str(f) for f in self.folders), *self.urls]) or "(none)"

    def locate(self, ref: str) -> str:
        """The path or URL to read for ``ref``; raises ``PhotoRefError`` if it is outside every root."""
        if "\x00" in ref:
            raise PhotoRefError("contains a NUL character")
        if is_url(ref) and not ref.lower().startswith("file://"):
            return self._locate_url(ref)
        local = unquote(urlsplit(ref).path) if is_url(ref) else ref
        path = Path(local).expanduser()
        resolved = (path if path.is_absolute() else self.base_dir / path).resolve()
        if any(resolved.is_relative_to(folder) for folder in self.folders):
            return str(resolved)
        raise PhotoRefError(f"{ref!r} is outside the photo roots ({resolved}; roots: {self.describe()})")

    def _locate_url(self, ref: str) -> str:
        if "::" in ref:
            raise PhotoRefError(f"{ref!r}: chained URLs are not accepted")
        if {".", ".."} & set(unquote(urlsplit(ref).path).split("/")):
            raise PhotoRefError(f"{ref!r}: '.' and '..' are not accepted in a URL's path")
        scheme, host, path = _url_key(ref)
        for root in self.urls:
            r_scheme, r_host, r_path = _url_key(root)
            if (scheme, host) == (r_scheme, r_host) and path.startswith(r_path):
                return ref
        raise PhotoRefError(
            f"{ref!r}: URL not under the photo roots (scheme {scheme!r}, host {host!r}; roots: {self.describe()})"
        )
