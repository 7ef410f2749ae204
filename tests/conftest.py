"""Shared fixtures: repository paths, the face photo set, policies, a throw-away database."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    """The tests run against the installed package (``make setup`` installs it as a wheel): a package
    imported from the working tree would hide a file the wheel lacks, so that stops the run."""
    import checks
    import notices
    import scanner

    for package in (scanner, checks, notices):
        location = Path(package.__file__ or "").resolve().parent
        if location == REPO_ROOT / package.__name__:
            raise pytest.UsageError(
                f"{package.__name__} was imported from the working tree ({location}), not from the installed "
                "package: run the tests with `make test` (or .venv/bin/pytest after `make setup`)"
            )
    # The policies validated in full are remembered in a folder of the run's own (commands started by
    # the tests inherit it), never in the user's cache.
    os.environ["REALNAME_CACHE_DIR"] = tempfile.mkdtemp(prefix="realname-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.pop("REALNAME_CACHE_DIR", ""), ignore_errors=True)


def faces_root() -> Path:
    """The face photo set: ``$REALNAME_FACES_DIR``, else ``<repo>/../shared/faces``."""
    configured = os.environ.get("REALNAME_FACES_DIR")
    return Path(configured).expanduser().resolve() if configured else (REPO_ROOT.parent / "shared" / "faces").resolve()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The face photo set, read in place; tests using it are skipped when it is absent
    (and fail under CI, where the set is always beside the repository)."""
    root = faces_root()
    if not (root / "manifest.csv").is_file():
        message = f"face photo set not found at {root} (no manifest.csv); set REALNAME_FACES_DIR to its folder"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def default_policy():  # type: ignore[no-untyped-def]
    """The shipped default policy, parsed."""
    from scanner.policyfile import load_policy

    return load_policy().policy


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in the test's temporary folder."""
    from scanner.db import open_engine

    eng = open_engine(f"sqlite:///{tmp_path / 't.db'}")
    yield eng
    eng.dispose()
