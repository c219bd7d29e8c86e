"""/healthz's body (status only) and /status (the details: a page, or JSON for clients that prefer it), with
the broker unreachable (the offline app of conftest.py), and the status page rendered from probes with
workers on several hosts."""

from __future__ import annotations

import re

from flask import render_template

from mlapp.web.health import Probe


def test_healthz_tells_the_public_the_status_only(mlapp_client):
    response = mlapp_client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}


def test_status_as_json_lists_workers_and_hosts_even_when_empty(mlapp_client):
    response = mlapp_client.get("/status", headers={"Accept": "application/json"})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["status", "web", "broker", "workers", "hosts", "message"]
    assert body["status"] == "unavailable" and body["broker"] == "unreachable"  # no exception text
    assert body["workers"] == [] and body["hosts"] == {}
    assert body["message"] == "the message broker is not reachable"


def test_status_page_without_a_broker_says_no_worker_answered(mlapp_client):
    response = mlapp_client.get("/status")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert re.search(r'id="broker" class="error">unreachable<', page)
    assert 'id="no-workers"' in page and "No worker answered" in page
    assert 'id="workers"' not in page
    assert 'id="web-host">local<' in page
    assert "<h1>Status</h1>" in page


def test_status_page_shows_no_broker_url_or_credentials(mlapp_client, mlapp_offline_config):
    page = mlapp_client.get("/status").get_data(as_text=True)
    assert "amqp" not in page and "nobody" not in page and "nothing" not in page
    assert mlapp_offline_config.broker_url not in page


def test_pages_link_the_status_page_in_the_nav(mlapp_client):
    for path in ("/", "/status", "/predictions"):  # /predictions: its 503 page, without a broker
        page = mlapp_client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
        nav = page.split("<nav>")[1].split("</nav>")[0]
        assert '<a href="/status">Status</a>' in nav


def _render(app, probe: Probe, web_host: str = "prodserver") -> str:
    with app.test_request_context("/status"):
        return render_template("status.html", state=probe, web_host=web_host)


def _rows(page: str) -> list[tuple[str, list[str], int]]:
    rows = []
    for row in re.findall(r"<tr>\s*(.*?)</tr>", page.split("<tbody>")[1].split("</tbody>")[0], re.S):
        host = re.search(r'class="text host">(.*?)<', row).group(1)
        nodes = re.findall(r"<code>(.*?)</code>", row)
        count = int(re.search(r'class="count">(\d+)<', row).group(1))
        rows.append((host, nodes, count))
    return rows


def test_status_page_groups_workers_by_host(mlapp_offline_app):
    probe = Probe(
        broker_ok=True,
        broker="ok",
        workers=["mlstack-worker-1@c1", "prodserver@a", "prodserver@b", "celery@legacy"],
    )
    page = _render(mlapp_offline_app, probe)
    assert _rows(page) == [
        ("legacy", ["celery@legacy"], 1),
        ("mlstack-worker-1", ["mlstack-worker-1@c1"], 1),
        ("prodserver", ["prodserver@a", "prodserver@b"], 2),
    ]
    assert re.search(r'id="broker" class="ok">reachable<', page)
    assert 'id="worker-count">4 on 3 hosts<' in page
    assert 'id="no-workers"' not in page


def test_status_page_with_a_broker_but_no_worker(mlapp_offline_app):
    page = _render(mlapp_offline_app, Probe(broker_ok=True, broker="ok", workers=[], ping_timeout=0.5))
    assert "No worker answered a ping within 0.5 s" in page
    assert 'id="worker-count">0 on 0 hosts<' in page


def test_node_names_are_escaped(mlapp_offline_app):
    page = _render(mlapp_offline_app, Probe(broker_ok=True, broker="ok", workers=["<b>@x"]))
    assert "<b>" not in page and "&lt;b&gt;" in page
