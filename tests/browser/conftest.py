"""Fixtures of the browser tests: the App tests' Redis database, settings and database
(tests/app/conftest.py, loaded from there rather than copied), headless Chromium from
Debian's packages driven by Selenium, and the folder the screenshots are kept in.

No browser is downloaded: scripts/setup installs Debian's `chromium` and
`chromium-driver`. Without them the tests fail (they do not skip), saying so.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_TESTS = ROOT / "tests" / "app"
CHROMIUM = Path(os.environ.get("PROVENFIX_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("PROVENFIX_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))

sys.path.insert(0, str(APP_TESTS))  # app_support, e2e_support: what that conftest imports
_spec = importlib.util.spec_from_file_location(
    "provenfix_app_test_fixtures", APP_TESTS / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_app)

private_key_pem = _app.private_key_pem
redis_url = _app.redis_url
redis = _app.redis
env = _app.env
settings = _app.settings
db = _app.db
queue = _app.queue


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go: $PROVENFIX_TEST_ARTIFACTS, else tests/artifacts/."""
    folder = Path(os.environ.get("PROVENFIX_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), through its chromedriver."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"the browser tests need Debian's chromium and chromium-driver ({', '.join(missing)} "
            "not found): run scripts/setup, which installs them",
            pytrace=False,
        )
    try:
        from selenium import webdriver
    except ImportError:
        pytest.fail(
            "the browser tests need Selenium: run scripts/setup (it installs the dev extra)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root, in a container: Chromium's own sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1440,1000",
        "--lang=en-US",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
