"""The scan commands of ``realname``: import, rescan, demo and calibrate. Wiring only: the work is in
``scanner.importer``, ``scanner.scan`` and ``scanner.demo``; what they print is ``console_scan``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scanner.cli.common import (
    Breakdown,
    DatabaseOpt,
    FormatOpt,
    OutputFormat,
    OutputOpt,
    PolicyOpt,
    WorkersOpt,
    command_line,
    day,
    fail,
    loaded_policy,
    output_stream,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from scanner.importer import ImportReport

FacesOpt = Annotated[
    Path,
    typer.Option("--faces", envvar="REALNAME_FACES_DIR", help="Labelled photo set: DIR/manifest.csv and the photos."),
]


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
    encoding: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--encoding",
            help="The file's text encoding (default: UTF-8, else GB18030 when unambiguous), e.g. gb18030, cp1252.",
        ),
    ] = None,
    photo_root: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--photo-root",
            help="A folder or URL prefix photos may be read from (repeatable); replaces the policy's "
            "[photos] roots. Default: those roots, else the import file's folder.",
        ),
    ] = None,
    policy: PolicyOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Import subscribers (upsert by account_id; re-importing the same file changes nothing)."""
    from scanner.db import open_engine

    roots = photo_root or list(loaded_policy(policy).policy.photos.roots)
    _import(
        open_engine(database),
        file,
        skip_invalid=skip_invalid,
        rejects=rejects,
        keep_invalid_id=keep_invalid_id,
        encoding=encoding,
        photo_roots=roots,
    )


def _import(
    engine: Engine,
    file: Path,
    *,
    skip_invalid: bool,
    rejects: Path | None,
    keep_invalid_id: bool,
    encoding: str | None = None,
    photo_roots: list[str] | None = None,
) -> ImportReport:
    from rich.text import Text

    from scanner.cli.console import console, err_console, plain
    from scanner.cli.console_scan import import_summary
    from scanner.importer import ImportFileError, import_file

    try:
        report = import_file(
            engine,
            file,
            skip_invalid=skip_invalid,
            keep_invalid_id=keep_invalid_id,
            rejects_path=rejects,
            encoding=encoding,
            photo_roots=photo_roots,
        )
    except ImportFileError as exc:
        raise fail(str(exc)) from None
    for err in report.rejected[:50]:
        err_console.print(Text.assemble(plain(file, "yellow"), " ", plain(err)), highlight=False)
    if len(report.rejected) > 50:
        err_console.print(f"... and {len(report.rejected) - 50} more rejected rows")
    if not report.committed:
        raise fail(
            f"{len(report.rejected)} of {report.rows} rows rejected; nothing imported "
            "(fix them; or use --skip-invalid to import the good rows and write the others to a file; or, "
            "where a row's only defect is its ID number's check digit, birth date or region, --keep-invalid-id "
            "to keep it so that the rescan flags it ID_NUMBER_INVALID)",
            code=1,
        )
    console.print(import_summary(file, report))
    return report


def rescan_command(
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
    from scanner.cli.console import console, err_console, log_line, plain, scan_progress
    from scanner.cli.console_scan import run_renderables
    from scanner.db import open_engine
    from scanner.scan.rescan import RescanError, rescan

    if workers is not None and cluster is not None:
        raise fail("--workers and --cluster cannot be combined (a cluster has its own workers)")
    loaded = loaded_policy(policy) if (policy is not None or resume is None) else None
    if resume is not None and (as_of is not None or preview):
        raise fail("--resume continues a run with its own as-of date and mode; drop --as-of and --preview")
    today = day(as_of, "--as-of")
    engine = open_engine(database)
    try:
        with scan_progress(quiet) as (on_start, on_progress):
            run = rescan(
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
                on_note=(lambda m: log_line("note", message=m)) if quiet else (lambda m: err_console.print(plain(m))),
            )
    except (RescanError, ValueError) as exc:
        raise fail(str(exc)) from None
    if quiet:
        keys = ("subscribers", "photos", "measured_photos", "cached_photos", "unreadable_photos", "verdicts")
        log_line("finished", run=run.id, mode=run.mode, **{k: run.totals.get(k) for k in (*keys, "wall_seconds")})
        return
    for item in run_renderables(run, command_line("report", str(run.id), database=database)):
        console.print(item)


def demo_command(
    faces: FacesOpt = Path("../shared/faces"),
    workdir: Annotated[Path, typer.Option("--workdir", help="Where the demo base and database are written.")] = Path(
        "demo"
    ),
    workers: WorkersOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Build a demo base of about 200 subscribers from a face set, rescan it, print the report."""
    from scanner.cli.console import console, plain, scan_progress
    from scanner.cli.console_report import report_renderables
    from scanner.cli.console_scan import run_renderables
    from scanner.db import open_engine
    from scanner.demo import DemoError, build_demo_base
    from scanner.report.listing import listing
    from scanner.scan.rescan import rescan

    try:
        base = build_demo_base(faces, workdir)
    except DemoError as exc:
        raise fail(str(exc)) from None
    console.print(plain(f"demo base: {base.subscribers} subscribers written to {base.csv_path}"), highlight=False)
    url = database or f"sqlite:///{(workdir / 'realname.db').resolve()}"
    engine = open_engine(url)
    roots = list(base.photo_roots)
    _import(engine, base.csv_path, skip_invalid=False, rejects=None, keep_invalid_id=True, photo_roots=roots)
    with scan_progress() as (on_start, on_progress):
        run = rescan(engine, loaded_policy(None), workers=workers, on_start=on_start, on_progress=on_progress)
    for item in run_renderables(run, command_line("report", str(run.id), database=url), tables=False):
        console.print(item)
    for item in report_renderables(**listing(engine, run.id, {"fail", "review"}, limit=20), lang="en"):
        console.print(item)


def calibrate_command(
    faces: FacesOpt = Path("../shared/faces"),
    policy: PolicyOpt = None,
    format: FormatOpt = OutputFormat.TEXT,
    output: OutputOpt = None,
    pairs_from: Annotated[
        str, typer.Option("--pairs-from", help="Face-match pairs use photos whose path starts with this.")
    ] = "identities/",
    workers: WorkersOpt = None,
    by: Annotated[
        Optional[Breakdown],  # noqa: UP045
        typer.Option("--by", help="Also print every rate per source repository, with 95% Wilson intervals."),
    ] = None,
) -> None:
    """Measure a policy's error rates on a labelled photo set (and derived variants) before using it."""
    from rich.progress import Progress

    from scanner.cli.console import console, err_console
    from scanner.cli.console_scan import calibration_by_source, calibration_tables
    from scanner.scan.calibrate import CalibrationError, calibrate, to_json
    from scanner.scan.executors import make_executor
    from scanner.scan.report import write_json

    loaded = loaded_policy(policy)
    pool = make_executor(workers)
    try:
        with Progress(console=err_console, transient=True) as bar:
            task = bar.add_task("calibrating", total=None)
            result = calibrate(
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
    if format is OutputFormat.JSON:
        with output_stream(output) as fh:
            write_json(to_json(result), fh)
        return
    for table in calibration_tables(result.summary, f"{loaded.policy.name} {loaded.policy.version}"):
        console.print(table)
    if by is Breakdown.SOURCE:
        console.print(calibration_by_source(result.summary))
