"""``realname relay``: the relay from the notice queue to Kannel (``scanner.relay``), its status, and the
SMSC simulator for trying it locally. Wiring only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scanner.cli.common import DatabaseOpt, PolicyOpt, fail, loaded_policy, write_engine

relay_app = typer.Typer(help="Relay SMS notices to an operator's SMS gateway (Kannel).", no_args_is_help=True)

ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config", help="TOML file with a \\[kannel] table of these settings (options override it)."),
]


@relay_app.command("kannel")
def kannel_command(
    config: ConfigOpt = None,
    sendsms: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--sendsms", help="Kannel's sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms."),
    ] = None,
    user: Annotated[Optional[str], typer.Option("--user", help="Kannel's sendsms-user.")] = None,  # noqa: UP045
    password_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--password-file", help="File holding that user's password (only its owner may read it)."),
    ] = None,
    dlr_listen: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--dlr-listen", help="HOST:PORT the relay takes Kannel's delivery reports on (127.0.0.1:13080)."),
    ] = None,
    dlr_url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--dlr-url", help="The report URL as Kannel reaches it (default http://DLR-LISTEN/dlr)."),
    ] = None,
    sender: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--sender", help="The operator's sender id (default: Kannel's global-sender)."),
    ] = None,
    consumer: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--consumer", help="Name the notices are claimed under (default kannel-relay@HOST)."),
    ] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", help="Notices claimed at once, at most (50).")] = None,  # noqa: UP045
    in_flight: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--in-flight", help="sendsms requests open at once (8)."),
    ] = None,
    until_idle: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--until-idle", help="Stop after this many seconds with nothing to send or to wait for."),
    ] = None,
    policy: PolicyOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Claim due SMS notices, send each through Kannel (UCS-2, the operator's sender id, every delivery
    report asked for), acknowledge it, and apply Kannel's delivery reports as receipts. Paced per SMSC
    link by the policy's \\[notices] sms_links, only inside the send window. A JSON status line every 30
    s on standard output; SIGTERM or Ctrl-C stops claiming, finishes what it holds and exits."""
    import asyncio
    import signal

    from scanner.enforce.queue import SqlNoticeQueue
    from scanner.relay.config import ConfigError, build, read_file
    from scanner.relay.runner import Relay

    try:
        settings: dict[str, Any] = read_file(config) if config else {}
        given = {
            "sendsms": sendsms,
            "user": user,
            "password_file": password_file and str(password_file),
            "dlr_listen": dlr_listen,
            "dlr_url": dlr_url,
            "sender": sender,
            "consumer": consumer,
            "batch": batch,
            "in_flight": in_flight,
        }
        settings.update({k: v for k, v in given.items() if v is not None})
        relay_config = build(settings)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    loaded = loaded_policy(policy or (Path(settings["policy"]) if settings.get("policy") else None))
    engine = write_engine(database or settings.get("database"))
    rules = loaded.enforcement
    queue = SqlNoticeQueue(engine, rules)
    db_threads = 1 if engine.dialect.name == "sqlite" else 4
    relay = Relay(relay_config, queue, rules.sms_links, rules.signature, db_threads=db_threads)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(relay.run(stop, until_idle=until_idle))
        await asyncio.sleep(0)
        while relay.listening is None and not task.done():
            await asyncio.sleep(0.05)
        if relay.listening is not None:
            host, port = relay.listening
            print(
                json.dumps({"event": "started", "consumer": relay_config.consumer, "reports_at": f"{host}:{port}"}),
                flush=True,
            )
        await task

    try:
        asyncio.run(main())
    except OSError as exc:  # the report port is taken, most likely
        raise fail(f"relay: {exc}") from None


@relay_app.command("status")
def status_command(
    url: Annotated[
        str, typer.Option("--url", help="The relay's report endpoint (its --dlr-listen).")
    ] = "http://127.0.0.1:13080",
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The status as one JSON line.")] = False,
) -> None:
    """What a running relay has done: submitted, delivered, undelivered, awaiting a report, in flight,
    rate, last error."""
    import urllib.request

    from scanner.relay.config import ConfigError, listen_address, read_file

    if config:
        try:
            host, port = listen_address(str(read_file(config).get("dlr_listen", "127.0.0.1:13080")))
        except ConfigError as exc:
            raise fail(str(exc)) from None
        url = f"http://{host}:{port}"
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/status", timeout=5) as response:
            status = json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise fail(f"no relay answers at {url}: {exc}", code=1) from None
    if as_json:
        print(json.dumps(status, ensure_ascii=False))
        return
    width = max(len(k) for k in status)
    for key, value in status.items():
        shown = "-" if value is None else json.dumps(value) if isinstance(value, dict) else value
        sys.stdout.write(f"{key:<{width}}  {shown}\n")
