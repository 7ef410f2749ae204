"""Headless Chromium for the browser tests: Debian's ``chromium`` and its ``chromedriver`` (no driver
is downloaded); the tests are skipped, saying what to install, when either is missing."""

from __future__ import annotations

import os
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
_missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(_missing),
        reason=f"{' and '.join(_missing)} missing: install Debian's chromium and chromium-driver (.ci/run does)",
    ),
]


def open_chromium(width: int = 1280, height: int = 900, *, performance_log: bool = False) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(arg)
    logs = {"browser": "ALL", **({"performance": "ALL"} if performance_log else {})}
    options.set_capability("goog:loggingPrefs", logs)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
