"""The dashboard in a real browser: `provenfix serve` (gunicorn) on a real port, a known
history in its database, headless Chromium signing in with the admin token, opening
every chart, and reading the numbers off the page to compare them with the rows.
Every page is kept as a PNG under $PROVENFIX_TEST_ARTIFACTS (tests/artifacts/)."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import POLICY_ENV, TOKEN, expected_tables, repositories_of, seed
from redis import Redis
from rq import Queue

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # fail, never skip: CI runs scripts/setup first
    pytest.fail("the browser tests need Selenium: run scripts/setup", pytrace=False)

from provenfix.bot.dashboard.panels import LABELS, PANELS
from provenfix.bot.db import Database, utcnow

PROVENFIX = str(Path(sys.executable).parent / "provenfix")
READ_TABLES = """
return Array.from(document.querySelectorAll('table[id]')).map(t => [
  t.id,
  Array.from(t.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.textContent.trim())),
]);
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(env: dict[str, str], redis: Redis, db: Database) -> Iterator[str]:
    """`provenfix serve` with the dashboard on, as an operator starts it; its base URL."""
    port = free_port()
    run_env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        **env,
        "PROVENFIX_DASHBOARD_TOKEN": TOKEN,
        **POLICY_ENV,
    }
    process = subprocess.Popen(
        [PROVENFIX, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                    assert json.load(response)["status"] == "ok"
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "provenfix serve did not come up"
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert TOKEN not in output  # never logged


def screenshot(driver: Any, folder: Path, name: str) -> None:
    """The whole page, not only the window, as a PNG."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path = folder / "dashboard" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 10_000, f"{path} looks empty"


def shown_tables(driver: Any) -> dict[str, list[list[str]]]:
    return {table_id: rows for table_id, rows in driver.execute_script(READ_TABLES)}


def check_charts(driver: Any, names: list[str]) -> None:
    """Each chart is drawn: a visible SVG with its accessible title, and marks on it."""
    for name in names:
        svg = driver.find_element(By.ID, f"chart-{name}")
        assert svg.is_displayed() and svg.size["width"] > 300 and svg.size["height"] > 150
        title = driver.find_element(By.ID, f"chart-{name}-title")
        assert title.get_attribute("textContent"), name
        marks = svg.find_elements(By.CSS_SELECTOR, "rect, circle, polyline")
        assert marks, f"chart {name} draws nothing"


def compare(shown: dict[str, list[list[str]]], expected: dict[str, list[list[str]]]) -> None:
    for table_id, rows in expected.items():
        assert shown[table_id] == rows, table_id


def test_the_dashboard_in_chromium(
    server: str, browser: Any, db: Database, queue: Queue, artifacts: Path
) -> None:
    now = utcnow()
    seed(db, now)
    for n in range(2):
        queue.enqueue("builtins.sorted", [n, 0])
    failed_job = queue.enqueue("builtins.sorted", [9, 8])
    queue.remove(failed_job)
    queue.failed_job_registry.add(failed_job, ttl=3600, exc_string="boom")
    expected = expected_tables(now, repositories_of([7, 8]))
    wait = WebDriverWait(browser, 20)

    browser.get(f"{server}/dashboard")
    wait.until(expected_conditions.url_contains("/dashboard/login"))
    screenshot(browser, artifacts, "01-sign-in")
    browser.find_element(By.ID, "token").send_keys("not-the-admin-token-at-all")
    browser.find_element(By.ID, "sign-in-token").click()
    error = wait.until(expected_conditions.visibility_of_element_located((By.ID, "login-error")))
    assert "not the dashboard's admin token" in error.text
    screenshot(browser, artifacts, "02-wrong-token")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "sign-in-token").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "panel-calibration")))
    assert browser.current_url == f"{server}/dashboard"
    assert browser.find_element(By.ID, "viewer").text == "admin"

    shown = shown_tables(browser)
    compare(shown, expected)
    assert dict(map(tuple, shown["table-queue"]))["queued"] == "2"  # type: ignore[arg-type]
    assert dict(map(tuple, shown["table-queue"]))["failed"] == "1"  # type: ignore[arg-type]
    check_charts(browser, list(PANELS))
    screenshot(browser, artifacts, "03-overview")

    nav = browser.find_elements(By.CSS_SELECTOR, "nav.charts a.chart-link")
    links = {link.get_attribute("data-chart"): link.get_attribute("href") for link in nav}
    assert list(links) == list(PANELS)
    assert [link.text for link in nav] == [LABELS[name] for name in PANELS]
    for index, name in enumerate(PANELS, start=4):
        browser.find_element(By.CSS_SELECTOR, f'a.chart-link[data-chart="{name}"]').click()
        wait.until(expected_conditions.url_to_be(links[name]))
        panels = browser.find_elements(By.CSS_SELECTOR, "section.panel")
        assert [p.get_attribute("id") for p in panels] == [f"panel-{name}"]
        assert browser.find_element(By.ID, f"heading-{name}").text
        check_charts(browser, [name])
        shown = shown_tables(browser)
        compare(shown, {k: v for k, v in expected.items() if k in shown})
        assert shown, name
        screenshot(browser, artifacts, f"{index:02d}-chart-{name}")

    browser.get(f"{server}/dashboard")
    Select(browser.find_element(By.ID, "repository")).select_by_visible_text("octo/lib")
    browser.find_element(By.CSS_SELECTOR, "form.filter button").click()
    wait.until(expected_conditions.url_contains("repository=octo%2Flib"))
    compare(shown_tables(browser), expected_tables(now, {102}))
    screenshot(browser, artifacts, f"{len(PANELS) + 4:02d}-filtered-octo-lib")

    browser.find_element(By.ID, "sign-out").click()
    wait.until(expected_conditions.url_contains("/dashboard/login"))
    browser.get(f"{server}/dashboard")
    wait.until(expected_conditions.url_contains("/dashboard/login"))
