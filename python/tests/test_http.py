"""serve-http: the real process, token via env, ready file, auth, shutdown, idle timeout."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import DEMO_DIR, daemon_exe, run_op


class Daemon:
    def __init__(self, tmp_path: Path, *extra: str, state_pid=None) -> None:
        self.token = secrets.token_hex(16)
        self.ready_file = tmp_path / "ready.json"
        self.state_file = tmp_path / "daemon.json"
        self.log = open(tmp_path / "daemon.log", "w+")
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
                *extra,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        # what the ktx CLI does: write daemon.json for the process it started
        self.state_file.write_text(
            json.dumps({"pid": self.proc.pid if state_pid is None else state_pid, "token": self.token})
        )
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


def test_ready_line(daemon):
    import ktx_daemon

    assert daemon.ready["event"] == "ready"
    assert daemon.ready["pid"] == daemon.proc.pid
    assert daemon.ready["version"] == ktx_daemon.__version__
    assert isinstance(daemon.ready["port"], int) and daemon.ready["port"] > 0
    first_line = [line for line in daemon.output().splitlines() if line.startswith("{")][0]
    assert json.loads(first_line) == daemon.ready


def test_auth_and_host_checks(daemon):
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


def test_health(daemon):
    import ktx_daemon

    r = httpx.get(f"{daemon.url}/health", headers=daemon.auth())
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["pid"] == daemon.proc.pid
    assert body["version"] == ktx_daemon.__version__
    assert body["features"][0] == "core"
    assert body["startedAt"].endswith("Z") and "T" in body["startedAt"]
    assert "embeddingModel" in body


def test_ops_match_one_shot(daemon):
    req = {
        "project_dir": str(DEMO_DIR),
        "query": {"measures": ["orders.revenue"], "dimensions": ["products.category"], "limit": 3},
        "dialect": "postgres",
        "execute": True,
    }
    r = httpx.post(f"{daemon.url}/semantic-layer/query", json=req, headers=daemon.auth(), timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == run_op("semantic-query", req).json
    r = httpx.post(
        f"{daemon.url}/semantic-layer/validate", json={"project_dir": str(DEMO_DIR)}, headers=daemon.auth()
    )
    assert r.status_code == 200 and r.json()["valid"] is True
    r = httpx.post(
        f"{daemon.url}/sql/table-identifiers", json={"sql": "select * from a.b.c", "dialect": None}, headers=daemon.auth()
    )
    assert r.json()["tables"][0]["qualified"] == "a.b.c"
    r = httpx.post(
        f"{daemon.url}/semantic-layer/generate-sources",
        json={"schema": {"tables": [{"name": "t", "columns": [{"name": "a", "type": "text"}]}]}},
        headers=daemon.auth(),
    )
    assert r.status_code == 200 and "t" in r.json()["sources"]


def test_errors(daemon):
    r = httpx.post(
        f"{daemon.url}/semantic-layer/query",
        json={"project_dir": str(DEMO_DIR), "query": {"measures": ["orders.revnue"]}},
        headers=daemon.auth(),
    )
    assert r.status_code == 400 and "orders.revnue" in r.json()["detail"]
    r = httpx.post(
        f"{daemon.url}/semantic-layer/query", content=b"{nope", headers={**daemon.auth(), "Content-Type": "application/json"}
    )
    assert r.status_code in (400, 422) and "detail" in r.json()
    r = httpx.post(f"{daemon.url}/semantic-layer/query", json=[1], headers=daemon.auth())
    assert r.status_code in (400, 422)


def test_shutdown_removes_state_file(daemon):
    assert daemon.state_file.exists()
    r = httpx.post(f"{daemon.url}/shutdown", headers=daemon.auth())
    assert r.status_code == 200 and r.json() == {"status": "shutting down"}
    assert daemon.proc.wait(15) == 0
    assert not daemon.state_file.exists()


def test_sigterm_removes_state_file(daemon):
    if os.name == "nt":
        pytest.skip("POSIX signals")
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.proc.wait(15)
    assert not daemon.state_file.exists()


def test_other_daemons_state_file_is_kept(tmp_path):
    d = Daemon(tmp_path, state_pid=999999999)
    try:
        httpx.post(f"{d.url}/shutdown", headers=d.auth())
        d.proc.wait(15)
        assert d.state_file.exists()
        assert json.loads(d.state_file.read_text())["pid"] == 999999999
    finally:
        d.stop()


def test_idle_timeout(tmp_path):
    d = Daemon(tmp_path, "--idle-timeout", "2")
    try:
        start = time.monotonic()
        assert d.proc.wait(15) == 0
        assert time.monotonic() - start < 10
        assert not d.state_file.exists()
    finally:
        d.stop()


def test_refuses_to_start_without_token(tmp_path):
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
