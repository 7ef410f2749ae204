"""Read a policy TOML file, validate it, and fingerprint it for the run record."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from checks.policy import Policy, PolicyError, parse_policy
from notices.settings import Enforcement, EnforcementError, parse_enforcement

DEFAULT_POLICY = Path(__file__).resolve().parent / "policies" / "default.toml"


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    path: str
    sha256: str
    enforcement: Enforcement  # the [ladder] and [notices] tables


def load_policy(path: str | Path | None = None) -> LoadedPolicy:
    """Load and validate a policy file; errors name the file and the key."""
    file = Path(path) if path is not None else DEFAULT_POLICY
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{file}: cannot read policy file ({exc.strerror or exc})") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PolicyError(f"{file}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{file}: not valid TOML: {exc}") from None
    ladder, notices = document.pop("ladder", None), document.pop("notices", None)
    try:
        policy = parse_policy(document)
        enforcement = parse_enforcement(ladder, notices, policy.policy.timezone)
    except (PolicyError, EnforcementError) as exc:
        raise PolicyError(f"{file}: {exc}") from None
    return LoadedPolicy(policy, str(file), hashlib.sha256(raw).hexdigest(), enforcement)
