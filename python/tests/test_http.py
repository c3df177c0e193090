"""serve-http: the real process, token via env, ready file, auth and Host on every route, the op
table's routes (and 404 for anything else), the same answers and messages as one-shot, shutdown,
idle timeout."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import daemon_exe, demo_sources, query_request, run_op


class Daemon:
    """``ktx-daemon serve-http`` started the way ktx starts it: lock, state, log, watched
    paths (a directory of the test), token in the environment."""

    def __init__(self, tmp_path: Path, *extra: str, wait_for_state: bool = True) -> None:
        self.token = secrets.token_hex(32)
        self.ready_file = tmp_path / "ready.json"
        self.state_file = tmp_path / "daemon.json"
        self.lock_file = tmp_path / ".daemon.lock"
        self.log_path = tmp_path / "daemon.log"
        self.watched = tmp_path / "venv"
        self.watched.mkdir(exist_ok=True)
        self.log = open(self.log_path, "a+")
        env = dict(os.environ, KTX_DAEMON_TOKEN=self.token)
        self.proc = subprocess.Popen(
            [
                daemon_exe(),
                "serve-http",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--ready-file",
                str(self.ready_file),
                "--state-file",
                str(self.state_file),
                "--lock-file",
                str(self.lock_file),
                "--log-file",
                str(self.log_path),
                "--wheel-sha256",
                "ab" * 32,
                "--reason",
                "start",
                "--watch",
                str(self.watched),
                *extra,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        if not wait_for_state:
            return
        deadline = time.monotonic() + 30
        while not self.ready_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"daemon did not become ready: {self.output()}")
            time.sleep(0.05)
        self.ready = json.loads(self.ready_file.read_text())
        self.url = f"http://127.0.0.1:{self.ready['port']}"

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    d.stop()


def test_the_ready_line_names_port_pid_and_version(daemon):
    import ktx_daemon

    assert daemon.ready["event"] == "ready"
    assert daemon.ready["pid"] == daemon.proc.pid
    assert daemon.ready["version"] == ktx_daemon.__version__
    assert isinstance(daemon.ready["port"], int) and daemon.ready["port"] > 0
    first_line = [line for line in daemon.output().splitlines() if line.startswith("{")][0]
    assert json.loads(first_line) == daemon.ready


def test_every_route_needs_the_token_and_a_loopback_host(daemon):
    r = httpx.get(f"{daemon.url}/health")
    assert r.status_code == 401 and r.json() == {"detail": "missing or invalid token"}
    r = httpx.get(f"{daemon.url}/health", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = httpx.get(f"{daemon.url}/health", headers={**daemon.auth(), "Host": "evil.example"})
    assert r.status_code == 403 and r.json() == {"detail": "forbidden host"}
    r = httpx.get(f"{daemon.url}/health", headers={"Host": "127.0.0.1.evil.example:80"})
    assert r.status_code == 403
    for host in ("localhost", f"localhost:{daemon.ready['port']}", "[::1]:1234", "127.0.0.1"):
        assert httpx.get(f"{daemon.url}/health", headers={**daemon.auth(), "Host": host}).status_code == 200
    for path in ("/semantic-layer/query", "/no/such/route", "/shutdown"):
        assert httpx.post(f"{daemon.url}{path}", json={}).status_code == 401
        r = httpx.post(f"{daemon.url}{path}", json={}, headers={**daemon.auth(), "Host": "evil.example"})
        assert r.status_code == 403
    assert daemon.proc.poll() is None  # the unauthenticated /shutdown did nothing


def test_health_is_healthy_with_our_fields(daemon):
    import ktx_daemon

    r = httpx.get(f"{daemon.url}/health", headers=daemon.auth())
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy"
    assert set(body) == {
        "status", "version", "pid", "features", "startedAt", "embeddingModel", "wheelSha256", "reason",
        "idleTimeout", "idleSecondsLeft", "rssBytes", "requests",
    }
    assert body["wheelSha256"] == "ab" * 32 and body["reason"] == "start"
    assert body["rssBytes"] > 1 << 20 and body["requests"] >= 1
    assert 0 < body["idleSecondsLeft"] <= body["idleTimeout"]
    assert body["pid"] == daemon.proc.pid
    assert body["version"] == ktx_daemon.__version__
    assert body["features"][0] == "core"
    assert body["startedAt"].endswith("Z") and "T" in body["startedAt"]
    assert "embeddingModel" in body


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


def test_shutdown_removes_the_state_file(daemon):
    assert daemon.state_file.exists()
    r = httpx.post(f"{daemon.url}/shutdown", headers=daemon.auth())
    assert r.status_code == 200 and r.json() == {"status": "shutting down"}
    assert daemon.proc.wait(15) == 0
    assert not daemon.state_file.exists()


def test_sigterm_removes_the_state_file(daemon):
    if os.name == "nt":
        pytest.skip("POSIX signals")
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.proc.wait(15)
    assert not daemon.state_file.exists()


def test_the_state_file_is_written_by_the_daemon_before_it_is_ready_and_private(daemon):
    state = json.loads(daemon.state_file.read_text())
    assert state["pid"] == daemon.proc.pid and state["port"] == daemon.ready["port"]
    assert state["token"] == daemon.token and state["wheelSha256"] == "ab" * 32
    assert state["reason"] == "start" and state["logFile"] == str(daemon.log_path)
    assert state["features"][0] == "core" and state["startedAt"].endswith("Z")
    if os.name != "nt":
        assert (daemon.state_file.stat().st_mode & 0o777) == 0o600


def test_a_second_daemon_on_the_same_lock_exits_4_and_touches_nothing(daemon, tmp_path):
    before = daemon.state_file.read_text()
    second = Daemon(tmp_path, wait_for_state=False)
    try:
        assert second.proc.wait(15) == 4
        assert "another daemon holds" in second.output()
        assert daemon.state_file.read_text() == before
        assert daemon.proc.poll() is None
    finally:
        second.stop()


def test_a_state_file_that_names_another_process_stops_the_daemon_and_is_kept(daemon):
    state = json.loads(daemon.state_file.read_text())
    state["pid"] = 999999999
    daemon.state_file.write_text(json.dumps(state))
    assert daemon.proc.wait(15) == 0
    assert json.loads(daemon.state_file.read_text())["pid"] == 999999999
    assert "no longer names this daemon" in daemon.output()


def test_a_removed_state_file_or_watched_path_stops_the_daemon_within_ten_seconds(tmp_path):
    for what in ("state", "watched"):
        base = tmp_path / what
        base.mkdir()
        d = Daemon(base)
        try:
            start = time.monotonic()
            if what == "state":
                d.state_file.unlink()
            else:
                d.watched.rmdir()
            assert d.proc.wait(15) == 0
            assert time.monotonic() - start < 10
            assert "is gone" in d.output()
        finally:
            d.stop()


def test_unauthenticated_requests_do_not_keep_an_idle_daemon_alive(tmp_path):
    d = Daemon(tmp_path, "--idle-timeout", "2")
    try:
        start = time.monotonic()
        while d.proc.poll() is None and time.monotonic() - start < 15:
            try:
                assert httpx.get(f"{d.url}/health").status_code == 401  # no token
            except httpx.ConnectError:
                break  # it stopped listening: exiting
            time.sleep(0.2)
        d.proc.wait(5)
        assert d.proc.poll() == 0, "401s kept the daemon alive"
        assert time.monotonic() - start < 10
    finally:
        d.stop()


def test_no_line_per_request_unless_the_access_log_is_asked_for(tmp_path):
    for flag, expect in ((), False), (("--access-log",), True):
        base = tmp_path / ("on" if flag else "off")
        base.mkdir()
        d = Daemon(base, *flag)
        try:
            for _ in range(20):
                httpx.get(f"{d.url}/health", headers=d.auth())
            d.log.flush()
        finally:
            d.stop()
        assert ("GET /health" in d.log_path.read_text()) == expect, d.log_path.read_text()


def test_an_idle_daemon_exits_after_the_idle_timeout(tmp_path):
    d = Daemon(tmp_path, "--idle-timeout", "2")
    try:
        start = time.monotonic()
        assert d.proc.wait(15) == 0
        assert time.monotonic() - start < 10
        assert not d.state_file.exists()
    finally:
        d.stop()


def test_the_daemon_refuses_to_start_without_a_token_or_on_a_public_host(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KTX_DAEMON_TOKEN"}
    proc = subprocess.run(
        [daemon_exe(), "serve-http", "--port", "0"], capture_output=True, text=True, env=env, timeout=30
    )
    assert proc.returncode == 2
    assert "KTX_DAEMON_TOKEN" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [daemon_exe(), "serve-http", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, env=dict(env, KTX_DAEMON_TOKEN="x"), timeout=30,
    )
    assert proc.returncode == 2 and "non-loopback" in proc.stderr
