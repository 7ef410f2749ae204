"""The layout a newcomer reads: imports go one way, every module is named in the README, and the
installed wheel holds exactly the three packages."""

from __future__ import annotations

import ast
import re
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("checks", "notices", "scanner")
# Folder -> the packages its modules may not import.
FORBIDDEN = {"checks": ("scanner", "notices"), "notices": ("scanner", "checks")}


def _modules(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package: str) -> None:
    wrong = []
    for path in _modules(package):
        names = _imports(path)
        banned = FORBIDDEN.get(package, ())
        in_cli = path.is_relative_to(REPO / "scanner" / "cli")
        for name in names:
            root = name.split(".")[0]
            if root in banned or (package == "scanner" and not in_cli and name.startswith("scanner.cli")):
                wrong.append(f"{path.relative_to(REPO)} imports {name}")
    assert wrong == []


def _layout_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_names_every_module_in_its_folder() -> None:
    section = _layout_section()
    # The section has one paragraph per folder, headed by the folder in backticks.
    parts = re.split(r"^`([a-z/]+/)`:", section, flags=re.M)
    listed = {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}
    missing = []
    for package in PACKAGES:
        for path in _modules(package):
            if path.name == "__init__.py":
                continue
            folder = str(path.parent.relative_to(REPO)) + "/"
            if f"`{path.stem}`" not in listed.get(folder, ""):
                missing.append(str(path.relative_to(REPO)))
    assert missing == []


def test_the_wheel_holds_exactly_the_three_packages() -> None:
    files = metadata.files("realname-scanner") or []
    tops = {f.parts[0] for f in files if not f.parts[0].endswith(".dist-info") and f.parts[0] != ".."}
    assert tops == set(PACKAGES)
    names = {str(f) for f in files}
    assert "scanner/policies/default.toml" in names  # data files travel with the code
    assert any(n.startswith("scanner/migrations/versions/") for n in names)


@pytest.mark.parametrize("folder", ["scanner/cli"])
def test_every_cli_module_stays_under_300_lines(folder: str) -> None:
    long = {p.name: n for p in _modules(folder) if (n := len(p.read_text(encoding="utf-8").splitlines())) >= 300}
    assert long == {}
