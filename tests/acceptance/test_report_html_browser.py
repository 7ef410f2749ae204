"""The HTML report looked at as a person would: opened from the file in headless Chromium (Debian's
``chromium`` with its ``chromedriver``; no driver is downloaded), charts drawn, lists shown, a name
that is markup shown as text, and not one request leaving the file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import MARKS, open_chromium
from report_base import SCRIPT_NAME, ReportBase, build, full_numbers
from typer.testing import CliRunner

from scanner.cli.app import app

pytestmark = MARKS


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportBase, Path]:
    base = build(tmp_path_factory.mktemp("browser"))
    html = base.folder / "report.html"
    result = CliRunner().invoke(app, ["report", "--format", "html", "-o", str(html), "--database", base.url])
    assert result.exit_code == 0, result.output
    return base, html


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = open_chromium(performance_log=True)
    try:
        yield driver
    finally:
        driver.quit()


def _requested_urls(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_the_page_in_chromium(page: tuple[ReportBase, Path], browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    base, html = page
    browser.get(html.resolve().as_uri())
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 (no alert was raised by the page)
    assert browser.find_elements(By.TAG_NAME, "script") == []

    figures = browser.find_elements(By.CSS_SELECTOR, "figure")
    ids = {f.find_element(By.CSS_SELECTOR, "svg title").get_attribute("id") for f in figures}
    assert ids == {f"chart-{n}-title" for n in ("reasons", "years", "provinces", "funnel", "delivery")}
    for figure in figures:
        svg = figure.find_element(By.TAG_NAME, "svg")
        assert svg.get_attribute("role") == "img"
        assert svg.size["width"] > 300 and svg.size["height"] > 100
        assert len(svg.find_elements(By.CSS_SELECTOR, "path, rect, use")) > 5  # bars and axes drawn
        assert svg.find_elements(By.TAG_NAME, "text")  # labels kept as text
        assert figure.find_element(By.TAG_NAME, "figcaption").text.strip()

    failing = browser.find_element(By.ID, "failing")
    names = [td.text for td in failing.find_elements(By.CSS_SELECTOR, "td.name")]
    assert SCRIPT_NAME in names and "张三" in names  # the markup shows as text
    assert len(failing.find_elements(By.CSS_SELECTOR, "tbody tr")) == 5  # every subscriber of the base fails
    assert full_numbers(browser.find_element(By.TAG_NAME, "body").text, base) == []
    assert "北京市" in browser.find_element(By.ID, "regions").text

    urls = _requested_urls(browser)
    assert urls and all(u.startswith(("file:", "data:")) for u in urls), urls
    source = html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", source, re.I)
