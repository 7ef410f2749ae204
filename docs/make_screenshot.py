"""Screenshot of the demo base's HTML report, for the README (``docs/report.png``).

    make demo                                   # the demo base and its first run, in ./demo/
    .venv/bin/python docs/make_screenshot.py    # -> docs/report.png (and demo/report.html)

Works on a copy of the demo database (``demo/report-shot.db``), so the demo itself is not changed:
the copy's cases are opened and the first stage of notices is sent and answered as an SMS gateway
would (about four in five delivered), a few days later the second stage, and the base is rescanned
once more from the measurement cache, so the ladder, delivery and change sections have something to
show (the second run under a stricter face-mismatch bound, as when a new standard comes in). Then
the report is written and photographed in headless Chromium (Debian's ``chromium`` and
``chromium-driver``), 1280 px wide, the whole page.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALNAME = str(ROOT / ".venv" / "bin" / "realname")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def realname(url: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([REALNAME, *args, "--database", url], input=stdin, capture_output=True, text=True, check=True)
    return done.stdout


def rehearse(url: str) -> None:
    """Cases opened, two stages of notices sent and answered, and a second enforcing run."""
    for day, share in (("2026-12-07T10:00", 5), ("2026-12-16T10:00", 4)):
        realname(url, "cases", "advance", "--now", day)
        for channel in ("sms", "call", "app", "letter"):
            claimed = [
                json.loads(line)
                for line in realname(
                    url, "notices", "claim", "--n", "1000", "--channel", channel, "--now", day
                ).splitlines()
                if line.startswith("{")
            ]
            if not claimed:
                continue
            acks = "".join(
                json.dumps({"id": c["id"], "token": c["token"], "gateway_message_id": f"gw{c['id']}"}) + "\n"
                for c in claimed
            )
            realname(url, "notices", "ack", "--now", day, stdin=acks)
            receipts = "".join(
                json.dumps(
                    {"gateway_message_id": f"gw{c['id']}", "stat": "UNDELIV" if c["id"] % share == 0 else "DELIVRD"}
                )
                + "\n"
                for c in claimed
            )
            realname(url, "notices", "receipt", "--now", day, stdin=receipts)
    # The next standard: a stricter face-mismatch bound, enforced (a new policy version).
    policy = Path(url.removeprefix("sqlite:///")).with_name("report-shot-policy.toml")
    text = (ROOT / "scanner" / "policies" / "default.toml").read_text(encoding="utf-8")
    stricter = re.sub(r"^mismatch_below_cosine = .*$", "mismatch_below_cosine = 0.25", text, count=1, flags=re.M)
    stricter = re.sub(r'^version = "(.*)"$', r'version = "\1-strict"', stricter, count=1, flags=re.M)
    policy.write_text(stricter, encoding="utf-8")
    realname(url, "rescan", "--quiet", "--as-of", "2026-12-16", "--policy", str(policy))


def screenshot(html: Path, png: Path, width: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.get(html.resolve().as_uri())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, height + 100)
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        shot = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    from PIL import Image

    # 256 colours are plenty for flat charts and text, and make the file a third of the size.
    Image.open(io.BytesIO(shot)).convert("RGB").quantize(256).save(png, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, default=ROOT / "demo", help="the folder `make demo` wrote")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--limit", type=int, default=12, help="subscribers listed in each list of the report")
    args = parser.parse_args()
    source = args.demo / "realname.db"
    if not source.is_file():
        sys.exit(f"{source}: not found; run `make demo` first")
    copy = args.demo / "report-shot.db"
    shutil.copyfile(source, copy)
    url = f"sqlite:///{copy.resolve()}"
    rehearse(url)
    html = args.demo / "report.html"
    realname(
        url,
        "report",
        "--format",
        "html",
        "--limit",
        str(args.limit),
        "--output",
        str(html),
        "--officer",
        "demo officer",
    )
    screenshot(html, args.output, args.width)
    print(f"{args.output} ({args.output.stat().st_size // 1024} KB) from {html}")


if __name__ == "__main__":
    main()
