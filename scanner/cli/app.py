"""The ``realname`` command: thin wiring over the scanner library."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from checks.policy import PolicyError
from scanner.cli.common import DatabaseOpt, PolicyOpt, fail

app = typer.Typer(
    name="realname",
    help="Rescan a subscriber base for real-name compliance (import, rescan, report) and enforce it humanely "
    "(cases, notices, holds, suspensions).",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
policy_app = typer.Typer(help="Policy files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")


def _enforcement_commands() -> None:
    from scanner.cli import enforce as cli_enforce
    from scanner.cli import notices as cli_queue

    app.add_typer(cli_enforce.cases_app, name="cases")
    app.add_typer(cli_enforce.holds_app, name="holds")
    app.add_typer(cli_queue.notices_app, name="notices")
    app.add_typer(cli_enforce.suspensions_app, name="suspensions")
    app.command("remediate")(cli_enforce.remediate_command)


def _today(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of {value!r} is not an ISO date (YYYY-MM-DD)") from None


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="Subscriber file, .csv or .jsonl.")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows; write rejected rows with reasons to a file.")
    ] = False,
    rejects: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--rejects", help="Where --skip-invalid writes rejected rows (default: FILE.rejected.csv)."),
    ] = None,
    keep_invalid_id: Annotated[
        bool,
        typer.Option(
            "--keep-invalid-id",
            help="Keep rows whose only defect is the ID number's check digit, birth date or region, "
            "so the rescan flags them ID_NUMBER_INVALID instead of dropping the subscriber.",
        ),
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Import subscribers (upsert by account_id; re-importing the same file changes nothing)."""
    from scanner.cli.console import console, err_console
    from scanner.db import open_engine
    from scanner.importer import ImportFileError, import_file

    try:
        report = import_file(
            open_engine(database),
            file,
            skip_invalid=skip_invalid,
            keep_invalid_id=keep_invalid_id,
            rejects_path=rejects,
        )
    except ImportFileError as exc:
        raise fail(str(exc)) from None
    for err in report.rejected[:50]:
        err_console.print(f"[yellow]{file}[/] {err}", highlight=False)
    if len(report.rejected) > 50:
        err_console.print(f"... and {len(report.rejected) - 50} more rejected rows")
    if not report.committed:
        raise fail(
            f"{len(report.rejected)} of {report.rows} rows rejected; nothing imported "
            "(fix them, or use --skip-invalid to import the good rows)",
            code=1,
        )
    console.print(
        f"{file}: {report.rows} rows: {report.inserted} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected"
        + (f" (written to {report.rejects_file})" if report.rejects_file else "")
        + (f"; {report.kept_with_id_defects} kept with ID number defects" if report.kept_with_id_defects else ""),
        highlight=False,
    )


@app.command()
def rescan(
    policy: PolicyOpt = None,
    workers: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--workers", min=1, help="Worker processes (default: the machine's cores)."),
    ] = None,
    cluster: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--cluster",
            help="Measure photos on a Dask cluster: tcp://HOST:8786 (a running scheduler), or local:N "
            "(start N local workers).",
        ),
    ] = None,
    as_of: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--as-of", help="Judge ID expiry as of this date, YYYY-MM-DD (default: today)."),
    ] = None,
    preview: Annotated[
        bool,
        typer.Option("--preview", help="Write findings marked as preview: see a policy's impact; no case changes."),
    ] = False,
    resume: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--resume", help="Continue run RUN (killed or interrupted) after its last finished shard."),
    ] = None,
    rehash: Annotated[
        bool,
        typer.Option(
            "--rehash",
            help="Read and hash every photo again instead of trusting the sha256 recorded at the last scan "
            "(only photos whose bytes changed are decoded).",
        ),
    ] = False,
    photo_timeout: Annotated[
        float,
        typer.Option("--photo-timeout", min=1, help="Seconds one photo may take before its worker is stopped."),
    ] = 120.0,
    page_size: Annotated[int, typer.Option("--page-size", min=1, help="Subscribers per shard (commit unit).")] = 1000,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No progress bar: JSON log lines on standard error (for cron).")
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Judge every subscriber under a policy and write one finding each (resumable, cached, previewable)."""
    from scanner.cli.console import console, reason_table, scan_progress, verdict_table
    from scanner.db import open_engine
    from scanner.policyfile import load_policy
    from scanner.scan.rescan import RescanError
    from scanner.scan.rescan import rescan as run_rescan

    if workers is not None and cluster is not None:
        raise fail("--workers and --cluster cannot be combined (a cluster has its own workers)")
    try:
        loaded = load_policy(policy) if (policy is not None or resume is None) else None
    except PolicyError as exc:
        raise fail(str(exc)) from None
    if resume is not None and (as_of is not None or preview):
        raise fail("--resume continues a run with its own as-of date and mode; drop --as-of and --preview")
    today = _today(as_of)
    engine = open_engine(database)
    try:
        with scan_progress(quiet) as (on_start, on_progress):
            run = run_rescan(
                engine,
                loaded,
                as_of=today,
                workers=workers,
                cluster=cluster,
                preview=preview,
                resume=resume,
                rehash=rehash,
                photo_timeout=photo_timeout,
                page_size=page_size,
                on_start=on_start,
                on_progress=on_progress,
            )
    except (RescanError, ValueError) as exc:
        raise fail(str(exc)) from None
    totals = run.totals
    if quiet:
        from scanner.cli.console import log_line

        keys = ("subscribers", "photos", "measured_photos", "cached_photos", "unreadable_photos", "verdicts")
        log_line("finished", run=run.id, mode=run.mode, **{k: totals.get(k) for k in (*keys, "wall_seconds")})
        return
    console.print(verdict_table(totals))
    if totals.get("reasons"):
        console.print(reason_table(totals))
    console.print(
        f"run {run.id} ({run.mode}) finished: {totals['subscribers']} subscribers, {totals['photos']} photos "
        f"({totals['measured_photos']} measured, {totals['cached_photos']} from the measurement cache) "
        f"in {totals['wall_seconds']:.1f} s ({totals['photos_per_second'] or 0:.1f} photos/s); "
        f"see `realname report {run.id}`",
        highlight=False,
    )


@app.command()
def report(
    run: Annotated[Optional[int], typer.Argument(help="Run id (default: the latest run).")] = None,  # noqa: UP045
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    verdict: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--verdict", help="Only these verdicts (repeatable). Default: fail and review for text, all for json."
        ),
    ] = None,
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            min=0,
            help="Text format: list at most this many subscribers (0: all; with --diff, the first 1000 of each "
            "change).",
        ),
    ] = 40,
    diff: Annotated[
        Optional[tuple[int, int]],  # noqa: UP045
        typer.Option(
            "--diff",
            metavar="RUN_A RUN_B",
            help="Compare two runs (e.g. the last enforcing run and a preview): who newly fails and who newly "
            "passes, by reason, join year and region.",
        ),
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Counts by verdict and reason, and the subscribers behind them (numbers masked); with --diff, who newly
    fails and who newly passes between two runs."""
    from contextlib import nullcontext

    from rich.console import Console

    from scanner.cli.console import console, reason_table, subscriber_table, verdict_table
    from scanner.db import open_engine
    from scanner.scan.report import ReportError, build_report, write_json

    if format not in ("text", "json"):
        raise fail("--format must be text or json")
    if diff is not None:
        if run is not None:
            raise fail(f"give either a run ({run}) or --diff RUN_A RUN_B, not both")
        if verdict:
            raise fail("--verdict does not apply to --diff (the diff counts every subscriber of both runs)")
        from scanner.cli.console import diff_renderables
        from scanner.scan.diff import LIST_LIMIT, build_diff

        try:
            listed = (limit or LIST_LIMIT) if format == "text" else LIST_LIMIT
            changes = build_diff(open_engine(database), *diff, list_limit=listed)
        except ReportError as exc:
            raise fail(str(exc)) from None
        with output.open("w", encoding="utf-8") if output else nullcontext(sys.stdout) as fh:
            if format == "json":
                write_json(changes, fh)
            else:
                target = console if output is None else Console(file=fh, width=160)
                for item in diff_renderables(changes, limit):
                    target.print(item)
        return
    chosen = set(verdict) if verdict else ({"fail", "review"} if format == "text" else None)
    bad = (chosen or set()) - {"pass", "review", "fail"}
    if bad:
        raise fail(f"unknown verdict(s): {', '.join(sorted(bad))}")
    try:
        data = build_report(open_engine(database), run, chosen)
    except ReportError as exc:
        raise fail(str(exc)) from None
    if format == "json":
        if output:
            with output.open("w", encoding="utf-8") as fh:
                write_json(data, fh)
        else:
            write_json(data, sys.stdout)
        return
    out = console if output is None else Console(file=output.open("w", encoding="utf-8"), width=160)
    r = data["run"]
    out.print(
        f"[bold]Run {r['id']}[/]  policy {r['policy']['name']} {r['policy']['version']} "
        f"(sha256 {r['policy']['sha256'][:12]}), mode {r['mode']}, as of {r['as_of']}, {r['status']}"
    )
    out.print(verdict_table(data["totals"]))
    if data["totals"].get("reasons"):
        out.print(reason_table(data["totals"]))
    order = {"fail": 0, "review": 1, "pass": 2}
    rows = sorted(data["subscribers"], key=lambda r: (order.get(r["verdict"], 3), r["account_id"]))
    shown = rows if limit == 0 else rows[:limit]
    out.print(subscriber_table(shown, f"Subscribers ({', '.join(sorted(chosen or []))}): {len(rows)}"))
    if len(shown) < len(rows):
        out.print(f"... {len(rows) - len(shown)} more not shown: use --limit 0, or --format json for all of them.")


@app.command()
def demo(
    faces: Annotated[
        Path,
        typer.Option("--faces", envvar="REALNAME_FACES_DIR", help="Face photo set with manifest.csv."),
    ] = Path("../shared/faces"),
    workdir: Annotated[Path, typer.Option("--workdir", help="Where the demo base and database are written.")] = Path(
        "demo"
    ),
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Worker processes.")] = None,  # noqa: UP045
    database: DatabaseOpt = None,
) -> None:
    """Build a demo base of about 200 subscribers from a face set, rescan it, print the report."""
    from scanner.cli.console import console
    from scanner.demo import DemoError, build_demo_base

    try:
        base = build_demo_base(faces, workdir)
    except DemoError as exc:
        raise fail(str(exc)) from None
    console.print(f"demo base: {base.subscribers} subscribers written to {base.csv_path}", highlight=False)
    url = database or f"sqlite:///{(workdir / 'realname.db').resolve()}"
    import_command(base.csv_path, skip_invalid=False, rejects=None, keep_invalid_id=True, database=url)
    rescan(
        policy=None,
        workers=workers,
        cluster=None,
        as_of=None,
        preview=False,
        resume=None,
        rehash=False,
        photo_timeout=120.0,
        page_size=1000,
        quiet=False,
        database=url,
    )
    report(run=None, format="text", verdict=None, output=None, limit=40, database=url)


@app.command()
def calibrate(
    faces: Annotated[
        Path,
        typer.Option(
            "--faces", envvar="REALNAME_FACES_DIR", help="Labelled photo set: DIR/manifest.csv and the photos."
        ),
    ] = Path("../shared/faces"),
    policy: PolicyOpt = None,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
    pairs_from: Annotated[
        str, typer.Option("--pairs-from", help="Face-match pairs use photos whose path starts with this.")
    ] = "identities/",
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Worker processes.")] = None,  # noqa: UP045
) -> None:
    """Measure a policy's error rates on a labelled photo set (and derived variants) before using it."""
    from rich.progress import Progress

    from scanner.cli.console import calibration_tables, console, err_console
    from scanner.policyfile import load_policy
    from scanner.scan.calibrate import CalibrationError, to_json
    from scanner.scan.calibrate import calibrate as run_calibration
    from scanner.scan.executors import make_executor
    from scanner.scan.report import write_json

    if format not in ("text", "json"):
        raise fail("--format must be text or json")
    try:
        loaded = load_policy(policy)
    except PolicyError as exc:
        raise fail(str(exc)) from None
    pool = make_executor(workers)
    try:
        with Progress(console=err_console, transient=True) as bar:
            task = bar.add_task("calibrating", total=None)
            result = run_calibration(
                faces,
                loaded.policy,
                pool,
                pairs_prefix=pairs_from,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except CalibrationError as exc:
        raise fail(str(exc)) from None
    finally:
        pool.close()
    if format == "json":
        if output:
            with output.open("w", encoding="utf-8") as fh:
                write_json(to_json(result), fh)
        else:
            write_json(to_json(result), sys.stdout)
        return
    for table in calibration_tables(result.summary, f"{loaded.policy.name} {loaded.policy.version}"):
        console.print(table)


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOpt = None) -> None:
    """Create or migrate the schema to the newest revision."""
    from scanner.cli.console import console
    from scanner.db import database_url, upgrade

    upgrade(database)
    console.print(f"schema up to date at {database_url(database).split('@')[-1]}")


@policy_app.command("check")
def policy_check(file: Annotated[Path, typer.Argument(help="Policy TOML file.")]) -> None:
    """Validate a policy file and print its name, version and hash."""
    from scanner.cli.console import console
    from scanner.policyfile import load_policy

    try:
        loaded = load_policy(file)
    except PolicyError as exc:
        raise fail(str(exc)) from None
    console.print(f"{file}: policy {loaded.policy.name} version {loaded.policy.version}, sha256 {loaded.sha256}")
    rules = loaded.enforcement
    stages = "; ".join(
        f"day +{stage.delay_days} {'+'.join(c.value for c in stage.channels)} ({stage.template})"
        for stage in rules.ladder.stages
    )
    window = rules.window
    console.print(
        f"ladder: {stages}; then {rules.ladder.grace_days} days of grace; send window "
        f"{window.opens:%H:%M}-{window.closes:%H:%M} {window.zone}",
        highlight=False,
    )


_enforcement_commands()


def main() -> None:
    app()
