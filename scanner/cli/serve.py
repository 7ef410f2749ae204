"""``realname serve``: the review web app (``scanner.web``) on waitress. Wiring only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scanner.cli.common import DatabaseOpt, PolicyOpt, fail, loaded_policy, write_engine


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8080,
    threads: Annotated[int, typer.Option("--threads", min=1, max=64, help="Requests served at once.")] = 4,
    session_minutes: Annotated[
        int, typer.Option("--session-minutes", min=1, max=24 * 60, help="A session ends after this long idle.")
    ] = 30,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Cookies only over HTTPS (behind a TLS proxy).")
    ] = False,
    secret_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--secret-file",
            help="File with the key that signs sessions (default ~/.config/realname/web-secret, made on "
            "first use; REALNAME_WEB_SECRET overrides it).",
        ),
    ] = None,
    policy: PolicyOpt = None,
    database: DatabaseOpt = None,
) -> None:
    """Serve the review pages: sign-in, the next item with its photos and measurements, decisions by
    keyboard, the officer's queue page. Plain HTTP: put TLS in front of it for anything but loopback."""
    import waitress

    from scanner.cli.console import console
    from scanner.web.app import create_app
    from scanner.web.secret import SecretError, load_secret

    try:
        secret = load_secret(secret_file)
    except (SecretError, OSError) as exc:
        raise fail(str(exc)) from None
    loaded = loaded_policy(policy)
    engine = write_engine(database)
    app = create_app(engine, loaded, secret=secret, session_minutes=session_minutes, secure_cookies=secure_cookies)
    server = waitress.create_server(app, host=host, port=port, threads=threads, ident="realname")
    where = f"http://{host}:{server.effective_port}/"
    console.print(f"realname serve: review pages at {where} (Ctrl-C stops)", highlight=False)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
