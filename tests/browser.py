"""Headless Chromium for tests (Debian's chromium + chromedriver, driven by selenium)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1200",
)


@contextmanager
def chromium(scratch: Path) -> Iterator[Any]:
    """A selenium driver on a fresh profile under ``scratch``; quit on exit."""
    if not shutil.which(CHROMEDRIVER):
        pytest.fail(f"{CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    # Chromium leaves org.chromium.Chromium.* directories in TMPDIR: keep them in the scratch directory.
    scratch.mkdir(parents=True, exist_ok=True)
    options.add_argument(f"--user-data-dir={scratch / 'profile'}")
    service = Service(CHROMEDRIVER, env={**os.environ, "TMPDIR": str(scratch)})
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
