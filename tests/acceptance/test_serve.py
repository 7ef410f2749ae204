"""``realname serve`` as a user starts it: a process that makes its signing key, listens on the port
given (0: any free one, printed), serves the sign-in page with its security headers, sends everyone
else to sign in, and stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

REALNAME = str(Path(sys.executable).parent / "realname")
pytestmark = pytest.mark.slow


def test_serve_starts_serves_the_sign_in_page_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.pop("REALNAME_WEB_SECRET", None)
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    with subprocess.Popen(
        [REALNAME, "serve", "--port", "0", "--database", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            assert found, line
            root = found.group(0).rstrip("/")
            page = requests.get(f"{root}/login", timeout=10)
            assert page.status_code == 200 and 'name="csrf_token"' in page.text
            assert page.headers["Cache-Control"] == "no-store"
            assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
            away = requests.get(f"{root}/queue", timeout=10, allow_redirects=False)
            assert away.status_code == 302 and "/login" in away.headers["Location"]
            assert requests.get(f"{root}/api/csrf", timeout=10).status_code == 401
            key = tmp_path / "cfg" / "realname" / "web-secret"
            assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, errors = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, errors = proc.communicate()
    assert proc.returncode == 0, errors


def test_serve_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k" * 64)
    key.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if k != "REALNAME_WEB_SECRET"}
    done = subprocess.run(
        [REALNAME, "serve", "--secret-file", str(key), "--database", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0 and "readable by others" in done.stdout + done.stderr
