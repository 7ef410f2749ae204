"""``realname db upgrade`` and ``realname policy check``: the schema and the policy file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.common import DatabaseOpt, loaded_policy


def db_upgrade(database: DatabaseOpt = None) -> None:
    """Create or migrate the schema to the newest revision."""
    from scanner.cli.console import console
    from scanner.db import database_url, upgrade

    upgrade(database)
    console.print(f"schema up to date at {database_url(database).split('@')[-1]}")


def policy_check(file: Annotated[Path, typer.Argument(help="Policy TOML file.")]) -> None:
    """Validate a policy file and print its name, version and hash."""
    from scanner.cli.console import console, plain

    loaded = loaded_policy(file)
    policy = loaded.policy
    console.print(plain(f"{file}: policy {policy.name} version {policy.version}, sha256 {loaded.sha256}"))
    rules = loaded.enforcement
    stages = "; ".join(
        f"day +{stage.delay_days} {'+'.join(c.value for c in stage.channels)} ({stage.template})"
        for stage in rules.ladder.stages
    )
    window = rules.window
    console.print(
        plain(
            f"ladder: {stages}; then {rules.ladder.grace_days} days of grace; send window "
            f"{window.opens:%H:%M}-{window.closes:%H:%M} {window.zone}"
        ),
        highlight=False,
    )
