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
    metadata = mlapp_models["a"].metadata
    assert float(match.group(1)) == pytest.approx(metadata["accuracy"] * 100, abs=0.2)
    label = browser.find_element(By.CSS_SELECTOR, "#holdout p.accuracy").text
    assert label.startswith("Hold-out accuracy"), label

    def percent(element_id: str) -> float:
        text = browser.find_element(By.ID, element_id).text
        assert re.fullmatch(r"\d+\.\d\d%", text), (element_id, text)
        return float(text.rstrip("%"))

    holdout = metadata["holdout"]
    shown = {name: percent(f"holdout-{name}") for name in ("accuracy", "precision", "recall")}
    assert shown == pytest.approx({name: holdout[name] * 100 for name in shown}, abs=0.006)
    assert percent("baseline-accuracy") == pytest.approx(holdout["baseline_accuracy"] * 100, abs=0.006)
    assert percent("accuracy") > percent("baseline-accuracy") + 3.0
    for name in ("f1", "roc_auc"):
        text = browser.find_element(By.ID, f"holdout-{name.replace('_', '-')}").text
        assert float(text) == pytest.approx(holdout[name], abs=0.0006), (name, text)
    cells = {
        cell: int(browser.find_element(By.CSS_SELECTOR, f"#holdout-confusion td.{cell}").text)
        for cell in ("tn", "fp", "fn", "tp")
    }
    assert cells == holdout["confusion"]
    assert "training rows included" in browser.find_element(By.CSS_SELECTOR, "p.dataset-accuracy").text
    assert re.fullmatch(r"\d+\.\d\d%", browser.find_element(By.ID, "dataset-accuracy").text)

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
