"""Read a policy TOML file, validate it, and fingerprint it for the run record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded with the first policy validated (pydantic and the policy's models)
    from checks.policy import Policy
    from notices.queue import QueueRules
    from notices.review import ReviewRules
    from notices.settings import Enforcement

DEFAULT_POLICY = Path(__file__).resolve().parent / "policies" / "default.toml"


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    path: str
    sha256: str
    enforcement: Enforcement  # the [ladder] and [notices] tables
    review: ReviewRules  # the [review] table


def load_policy(path: str | Path | None = None) -> LoadedPolicy:
    """Load and validate a policy file; errors name the file and the key."""
    import tomllib

    from checks.policy import PolicyError, parse_policy
    from notices.review import ReviewRuleError, parse_review_rules
    from notices.settings import EnforcementError, parse_enforcement

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
    review = document.pop("review", None)
    try:
        policy = parse_policy(document)
        enforcement = parse_enforcement(ladder, notices, policy.policy.timezone)
        review_rules = parse_review_rules(review)
    except (PolicyError, EnforcementError, ReviewRuleError) as exc:
        raise PolicyError(f"{file}: {exc}") from None
    return LoadedPolicy(policy, str(file), hashlib.sha256(raw).hexdigest(), enforcement, review_rules)


def load_queue_rules(path: str | Path | None = None) -> QueueRules:
    """The queue's rules (send window, retry schedule, lease) of a policy file. A file whose bytes
    this installation has validated in full before is read from ``scanner.policycache``; any other
    is validated in full first (``load_policy``: a mistake anywhere in it is reported the same way)."""
    from scanner import policycache

    file = Path(path) if path is not None else DEFAULT_POLICY
    try:
        known = policycache.recall(hashlib.sha256(file.read_bytes()).hexdigest())
    except OSError:
        known = None  # load_policy says why the file cannot be read
    if known is not None:
        return known
    loaded = load_policy(file)
    policycache.remember(loaded.sha256, loaded.enforcement)
    return loaded.enforcement
