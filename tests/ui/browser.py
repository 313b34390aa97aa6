"""A real headless Chromium (Debian's /usr/bin/chromium through /usr/bin/chromedriver) for the
dashboard's browser tests; nothing is downloaded. Screenshots go to the test's tmp dir and are
copied to test-artifacts/ui/ at the repository root."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service

from tests.support.waiting import wait_until

CHROMIUM = os.environ.get("PGFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PGFLOW_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--window-size=1360,1000", "--force-device-scale-factor=1"]


class Browser:
    def __init__(self, driver: webdriver.Chrome, shots: Path) -> None:
        self.driver = driver
        self.shots = shots

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """Save a PNG of the page (its whole height when full_page) as a test artifact."""
        if full_page:
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(1360, max(700, min(int(height) + 20, 4000)))
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, ARTIFACTS / path.name)
        if full_page:
            self.driver.set_window_size(1360, 1000)
        return path

    def assert_no_alert(self) -> None:
        try:
            text = self.driver.switch_to.alert.text
        except NoAlertPresentException:
            return
        raise AssertionError(f"an alert fired: {text!r}")

    def text(self, selector: str) -> str:
        """The text of the first element matching `selector`, read in one script call (the live
        region may be swapped between a find_element and a read of the element it found)."""
        value = self.driver.execute_script(
            "var el = document.querySelector(arguments[0]); return el === null ? null : el.innerText;", selector)
        assert value is not None, f"nothing matches {selector!r}"
        return str(value)

    def wait_js(self, what: str, script: str, timeout: float = 20.0) -> object:
        return wait_until(what, lambda: self.driver.execute_script(script), timeout=timeout)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            raise AssertionError(f"{path} is missing: install Debian's chromium and chromium-driver "
                                 "(scripts/bootstrap.sh --test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Browser(driver, shots)
    finally:
        driver.quit()
