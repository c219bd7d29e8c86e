"""/predictions in headless Chromium (selenium + Debian's chromedriver), served by gunicorn with the
repository's gunicorn.conf.py, answered by the session's real worker. Keeps a screenshot."""

from __future__ import annotations

import re

import pytest
from app_services import start_gunicorn

from tests.browser import chromium


@pytest.fixture(scope="module")
def web_url(mlapp_vhost, mlapp_session_worker, mlapp_artifacts):
    web, base = start_gunicorn(mlapp_vhost.url, mlapp_artifacts, extra_env={"SAMPLE_ROWS": "12"})
    yield base
    web.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver


@pytest.mark.timeout(300)
def test_predictions_page_renders_accuracy_table_and_chart(browser, web_url, mlapp_models, mlapp_repo_root):
    from selenium.webdriver.common.by import By

    browser.get(f"{web_url}/predictions")
    accuracy = browser.find_element(By.ID, "accuracy").text
    match = re.fullmatch(r"(\d+\.\d\d)%", accuracy)
    assert match, accuracy
    assert float(match.group(1)) == pytest.approx(mlapp_models["a"].metadata["accuracy"] * 100, abs=0.2)

    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#predictions thead th")]
    assert headers[:2] == ["Row", "Pregnancies"] and headers[-3:] == ["True", "Predicted", "Probability"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#predictions tbody tr")
    assert len(rows) == 12
    for row in rows:
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        assert len(cells) == 12
        assert cells[9] in {"0", "1"} and cells[10] in {"0", "1"}
        assert 0.0 <= float(cells[11]) <= 1.0
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart svg rect.bar")
    assert len(bars) == 4 and all(bar.is_displayed() for bar in bars)

    shots = mlapp_repo_root / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shots / "predictions.png"))


@pytest.mark.timeout(120)
def test_landing_page_links_to_predictions(browser, web_url):
    from selenium.webdriver.common.by import By

    browser.get(web_url + "/")
    browser.find_element(By.LINK_TEXT, "Predictions").click()
    assert browser.current_url.endswith("/predictions")
    assert browser.find_element(By.ID, "predictions")
