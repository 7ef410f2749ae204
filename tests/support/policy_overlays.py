"""Policy files for tests: the shipped policy with a small overlay applied.

A fixture policy in ``fixtures/policies/`` names only what it changes from the shipped policy
(``scanner/policies/default.toml``); its ``[overlay] remove`` lists dotted keys to drop. A test with a
one-off change calls ``policy_with(folder, {"checks.clarity.min_sharpness": 2000.0})``. So a key added
to the shipped policy is one edit, not one per fixture. Fixtures that are not TOML on purpose
(``invalid_syntax.toml``, ``not_utf8.toml``) are used as they are.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from scanner.policyfile import DEFAULT_POLICY

FIXTURE_POLICIES = Path(__file__).resolve().parents[2] / "fixtures" / "policies"
WHOLE_FILES = frozenset({"invalid_syntax.toml", "not_utf8.toml"})


def shipped_document() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_POLICY.read_text(encoding="utf-8"))


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = value


def _remove(doc: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        doc = doc[part]
    del doc[last]


def _merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def overlaid(overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The shipped policy's document with ``overlay`` (nested tables) merged in."""
    doc = shipped_document()
    changes = dict(overlay)
    removals = changes.pop("overlay", {}).get("remove", [])
    _merge(doc, changes)
    for dotted in removals:
        _remove(doc, dotted)
    return doc


def fixture_policy(name: str, folder: Path) -> Path:
    """``fixtures/policies/NAME`` applied to the shipped policy, written to ``folder/NAME``."""
    source = FIXTURE_POLICIES / name
    if name in WHOLE_FILES:
        return source
    target = folder / name
    target.write_text(tomli_w.dumps(overlaid(tomllib.loads(source.read_text(encoding="utf-8")))), encoding="utf-8")
    return target


def policy_with(folder: Path, changes: Mapping[str, Any], name: str = "changed.toml") -> Path:
    """The shipped policy with dotted keys set (``{"checks.clarity.min_sharpness": 2000.0}``), written
    to ``folder/name``."""
    doc = shipped_document()
    for dotted, value in changes.items():
        _set(doc, dotted, value)
    target = folder / name
    target.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return target
