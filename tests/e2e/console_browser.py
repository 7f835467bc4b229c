"""Driving sandlot's web console in Debian's headless Chromium with Selenium (its
chromedriver from the ``chromium-driver`` package: no browser download)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium and its driver not installed (Debian packages 'chromium' and "
    "'chromium-driver')",
)


def start_chromium(download_dir: str | None = None):
    """A fresh headless Chromium (a new profile: a cold browser) under Selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(flag)
    if download_dir:
        options.add_experimental_option(
            "prefs",
            {"download.default_directory": download_dir, "download.prompt_for_download": False},
        )
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def wait_until(check: Callable[[], object], timeout: float = 20, what: str = "condition"):
    """``check()``'s first truthy answer, polled until ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def text_of(driver, css: str) -> str:
    """The rendered text (``innerText``) of the first element matching ``css``, "" when
    there is none. Read in one script: WebDriver's element text can come back empty for
    an element scrolled out of view, and an element the page replaces goes stale."""
    script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';"
    return driver.execute_script(script, css)


def sign_in(
    driver, endpoint: str, key: str = "test", secret: str = "test", region: str = "us-east-1"
):
    """Open the console and sign in; returns once the signed-in header shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(f"{endpoint}/_sandlot/console/")
    driver.execute_script("sessionStorage.clear()")  # a browser of an earlier test
    driver.refresh()
    wait_until(lambda: driver.find_elements(By.ID, "sign-in"), what="the sign-in form")
    driver.find_element(By.ID, "access-key-id").send_keys(key)
    driver.find_element(By.ID, "secret-access-key").send_keys(secret)
    Select(driver.find_element(By.ID, "region")).select_by_value(region)
    driver.find_element(By.ID, "sign-in-button").click()
    wait_until(lambda: text_of(driver, "#identity"), what="the signed-in header")
