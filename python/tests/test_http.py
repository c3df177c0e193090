"""Our payload over HTTP, served by the runtime host as ktx runs it (``python -I -m ktx_host
serve-http``, app ``ktx_daemon.app:create_app``): the op table's routes and nothing else, the same
answers and messages as one-shot, a warm daemon's speed, and our /health fields. What the host
guarantees for any payload (token, Host, limits, lock, state file, idle exit) is tested in
``python/host/tests``; its launcher is shared from there."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import daemon_exe, demo_sources, query_request, run_op

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host" / "tests"))
from hostproc import Daemon  # noqa: E402  (test_cancel and test_limits import it from here)

__all__ = ["Daemon"]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("daemon"))
    yield d
    d.stop()


def test_health_is_the_hosts_with_our_embedding_model_and_the_code_it_serves(daemon):
    import ktx_daemon

    body = httpx.get(f"{daemon.url}/health", headers=daemon.auth()).json()
    assert body["status"] == "healthy" and body["version"] == ktx_daemon.__version__
    assert body["embeddingModel"] is None  # nothing embedded yet
    assert body["modules"]["ktx_daemon"] == str(Path(ktx_daemon.__file__).resolve().parent)


def test_every_op_of_the_table_has_its_route_and_answers_like_one_shot(daemon):
    from ktx_daemon.protocol import OPS

    requests = {
        "semantic-query": query_request(
            {"measures": ["orders.revenue"], "dimensions": ["products.category"], "limit": 3}, dialect="postgres"
        ),
        "semantic-validate": {"sources": demo_sources(), "dialect": "sqlite"},
        "semantic-generate-sources": {
            "tables": [{"name": "t", "columns": [{"name": "a", "type": "text", "primary_key": True}]}],
            "links": [],
        },
        "sql-parse-table-identifier": {"items": [{"key": "k", "sql_table_name": "a.b", "dialect": "postgres"}]},
        "sql-table-identifiers": {"sql": "select * from a.b.c"},
        "embedding-compute": {"text": ""},  # malformed: no model needed
        "embedding-compute-bulk": {"texts": []},
    }
    assert set(requests) == {op.name for op in OPS}
    for op in OPS:
        r = httpx.post(f"{daemon.url}{op.route}", json=requests[op.name], headers=daemon.auth(), timeout=30)
        one_shot = run_op(op.name, requests[op.name])
        if one_shot.code == 0:
            assert r.status_code == 200, (op.name, r.text)
            assert r.json() == one_shot.json, op.name
        else:
            assert one_shot.code == 1 and r.status_code == 422, (op.name, r.text)
            assert r.json() == {"detail": one_shot.json["error"]["message"]}


def test_an_unknown_route_is_a_404_and_never_another_op(daemon):
    for path in ("/semantic-layer/query/", "/semantic-layer", "/semantic-layer/queryx", "/embeddings", "/query", "/"):
        r = httpx.post(f"{daemon.url}{path}", json=query_request({"measures": ["orders.revenue"]}), headers=daemon.auth())
        assert r.status_code == 404, (path, r.text)
        assert r.json()["detail"].startswith(f"unknown route POST {path};")
    r = httpx.get(f"{daemon.url}/semantic-layer/query", headers=daemon.auth())
    assert r.status_code == 405


def test_a_refusal_is_a_400_with_the_one_shot_message_and_malformed_is_a_422(daemon):
    req = query_request({"measures": ["orders.revnue"]})
    r = httpx.post(f"{daemon.url}/semantic-layer/query", json=req, headers=daemon.auth())
    one_shot = run_op("semantic-query", req)
    assert one_shot.code == 3
    assert r.status_code == 400 and r.json() == {"detail": one_shot.json["error"]["message"]}
    assert "unknown measure 'orders.revnue'" in r.json()["detail"]
    r = httpx.post(
        f"{daemon.url}/semantic-layer/query", content=b"{nope", headers={**daemon.auth(), "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("invalid JSON on the request body")
    r = httpx.post(f"{daemon.url}/semantic-layer/query", json=[1], headers=daemon.auth())
    assert r.status_code == 422 and r.json() == {"detail": "the request must be a JSON object"}
    r = httpx.post(f"{daemon.url}/semantic-layer/query", json={"sources": [], "query": {}, "extra": 1}, headers=daemon.auth())
    assert r.status_code == 422 and "unknown request key 'extra'" in r.json()["detail"]


def test_a_warm_daemon_answers_a_demo_query_fast(daemon):
    req = query_request({"measures": ["orders.revenue", "customers.customer_count"], "dimensions": ["products.category"]})
    with httpx.Client(headers=daemon.auth(), timeout=30) as client:
        first = client.post(f"{daemon.url}/semantic-layer/query", json=req)
        assert first.status_code == 200
        times = []
        for _ in range(10):
            start = time.perf_counter()
            r = client.post(f"{daemon.url}/semantic-layer/query", json=req)
            times.append(time.perf_counter() - start)
            assert r.json() == first.json()
    assert sorted(times)[len(times) // 2] < 0.1  # ~10 ms here; generous for slow CI machines


def test_the_one_shot_cli_no_longer_serves_and_says_who_does():
    proc = subprocess.run([daemon_exe(), "serve-http", "--port", "0"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].endswith("the daemon is served by python -m ktx_host serve-http")
