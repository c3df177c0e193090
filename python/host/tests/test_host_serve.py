"""The host as ktx runs it, a real uvicorn on 127.0.0.1 in a subprocess, serving our payload
(``ktx_daemon.app:create_app``, the default) and a KTX-shaped FastAPI app with no token support
(``--app ktxlike:create_app``): the same guarantees for both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from hostproc import Daemon, copy_host, python_with

PAYLOADS = Path(os.path.realpath(Path(__file__).parent / "payloads"))
KTXLIKE = ("--app", "ktxlike:create_app")
LIMIT = 64 * 1024 * 1024


def real_dir(module_name: str) -> str:
    module = __import__(module_name)
    return os.path.realpath(os.path.dirname(module.__file__))


@pytest.fixture(scope="session")
def ktxlike_python(tmp_path_factory) -> str:
    return python_with(tmp_path_factory.mktemp("venvs") / "ktxlike", PAYLOADS)


@pytest.fixture(scope="module", params=["ours", "ktx-like"])
def served(request, tmp_path_factory, ktxlike_python):
    """One daemon per payload, shared by the tests that leave it running."""
    base = tmp_path_factory.mktemp(request.param)
    if request.param == "ours":
        d = Daemon(base)
        d.payload_route, d.payload_request = "/sql/table-identifiers", {"sql": "select * from a.b"}
    else:
        d = Daemon(base, *KTXLIKE, python=ktxlike_python)
        d.payload_route, d.payload_request = "/semantic-layer/query", {"text": "hello"}
    d.kind = request.param
    yield d
    d.stop()


@pytest.fixture
def ktxlike(tmp_path, ktxlike_python):
    marks = tmp_path / "marks"
    marks.mkdir()
    d = Daemon(tmp_path, *KTXLIKE, python=ktxlike_python, env={"KTXLIKE_MARKS": str(marks)})
    d.marks = marks
    yield d
    d.stop()


def raw_request(port: int, head: str, body: bytes = b"", timeout: float = 30) -> tuple:
    """Send one request over a plain socket; (status line, JSON body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
            top, _, rest = answer.partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in top.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if length and len(rest) >= length[0]:
                break
    top, _, rest = answer.partition(b"\r\n\r\n")
    return top.split(b"\r\n")[0].decode(), json.loads(rest)


# --------------------------------------------------------------------------- both payloads


def test_the_ready_line_names_port_pid_and_the_distributions_version(served):
    assert served.ready == {"event": "ready", "port": served.port, "pid": served.proc.pid, "version": version("kaelio-ktx")}
    first_line = [line for line in served.output().splitlines() if line.startswith("{")][0]
    assert json.loads(first_line) == served.ready


def test_every_route_needs_the_token_and_a_loopback_host(served):
    url = served.url
    for path, method in (("/health", "GET"), (served.payload_route, "POST"), ("/shutdown", "POST"), ("/no/such", "POST")):
        r = httpx.request(method, f"{url}{path}", json=served.payload_request)
        assert r.status_code == 401 and r.json() == {"detail": "missing or invalid token"}, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        r = httpx.request(method, f"{url}{path}", json=served.payload_request, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = httpx.request(method, f"{url}{path}", json=served.payload_request, headers={**served.auth(), "Host": "evil.example"})
        assert r.status_code == 403 and r.json() == {"detail": "forbidden host"}
    r = httpx.get(f"{url}/health", headers={**served.auth(), "Host": "127.0.0.1.evil.example:80"})
    assert r.status_code == 403
    for host in ("localhost", f"localhost:{served.port}", "[::1]:1234", "127.0.0.1"):
        assert httpx.get(f"{url}/health", headers={**served.auth(), "Host": host}).status_code == 200
    r = httpx.post(f"{url}{served.payload_route}", json=served.payload_request, headers=served.auth())
    assert r.status_code == 200, r.text
    assert served.proc.poll() is None  # the unauthenticated /shutdown did nothing


def test_health_merges_our_fields_over_the_payloads_answer_and_names_the_code_it_serves(served):
    r = httpx.get(f"{served.url}/health", headers=served.auth())
    assert r.status_code == 200
    body = r.json()
    ours = {
        "status", "version", "pid", "features", "startedAt", "wheelSha256", "reason", "rssBytes",
        "idleTimeout", "idleSecondsLeft", "requests", "modules",
    }
    payload_fields = {"embeddingModel"} if served.kind == "ours" else set()
    assert set(body) == ours | payload_fields
    assert body["status"] == "healthy" and body["version"] == version("kaelio-ktx")
    assert body["pid"] == served.proc.pid and body["features"] == ["core"]
    assert body["wheelSha256"] == "ab" * 32 and body["reason"] == "start"
    assert body["startedAt"].endswith("Z") and "T" in body["startedAt"]
    assert body["rssBytes"] > 1 << 20 and body["requests"] >= 1
    assert 0 < body["idleSecondsLeft"] <= body["idleTimeout"]
    if served.kind == "ours":
        assert body["modules"] == {"ktx_host": real_dir("ktx_host"), "ktx_daemon": real_dir("ktx_daemon")}
    else:
        assert body["modules"] == {"ktx_host": real_dir("ktx_host"), "ktxlike": str(PAYLOADS)}


def test_an_unknown_route_is_a_404_and_a_wrong_method_a_405_naming_the_routes(served):
    for path, shown in ((served.payload_route + "/",) * 2, ("/semantic-layer",) * 2, ("/",) * 2, ("/x%0Ay%01", "/x y?")):
        r = httpx.post(f"{served.url}{path}", json={}, headers=served.auth())
        assert r.status_code == 404, (path, r.text)
        detail = r.json()["detail"]
        assert detail.startswith(f"unknown route POST {shown}; routes: GET /health, POST /shutdown, "), detail
        assert f"POST {served.payload_route}" in detail and "\n" not in detail
    r = httpx.get(f"{served.url}{served.payload_route}", headers=served.auth())
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json() == {"detail": f"method GET not allowed on {served.payload_route}; allowed: POST"}
    r = httpx.post(f"{served.url}/health", headers=served.auth())
    assert r.status_code == 405 and r.json()["detail"] == "method POST not allowed on /health; allowed: GET"


def test_a_body_over_the_limit_is_refused_413_declared_or_streamed(served):
    status, body = raw_request(
        served.port,
        f"POST {served.payload_route} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {served.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {LIMIT + 1}\r\n",
    )
    assert status.startswith("HTTP/1.1 413 "), status
    assert body == {"detail": "the request body has 67,108,865 bytes; the limit is 67,108,864"}

    def chunks():
        piece = b" " * (1 << 20)
        for _ in range(65):
            yield piece

    r = httpx.post(f"{served.url}{served.payload_route}", content=chunks(), headers=served.auth(), timeout=60)
    assert r.status_code == 413
    assert r.json() == {"detail": "the request body has more than 67,108,864 bytes; the limit is 67,108,864"}
    assert httpx.get(f"{served.url}/health", headers=served.auth()).status_code == 200


def test_json_nested_too_deep_is_refused_before_the_payload_parses_it(served):
    deep = "[" * 30_000 + "]" * 30_000
    r = httpx.post(f"{served.url}{served.payload_route}", content=deep, headers=served.auth())
    assert r.status_code == 400
    assert r.json() == {"detail": "the request body nests JSON arrays or objects at least 30,000 levels deep; the limit is 512"}
    # 1 MB of '[' (a crash or an internal error in a recursive parser), refused at once
    start = time.monotonic()
    r = httpx.post(f"{served.url}{served.payload_route}", content="[" * 1_000_000, headers=served.auth())
    assert r.status_code == 400 and time.monotonic() - start < 5
    # at the limit: the payload's own answer (not a JSON object it takes: 422)
    r = httpx.post(f"{served.url}{served.payload_route}", content="[" * 512 + "]" * 512, headers=served.auth())
    assert r.status_code == 422, r.text


# --------------------------------------------------------------------------- a KTX-shaped payload


def test_the_payload_never_sees_our_token(ktxlike):
    r = httpx.post(f"{ktxlike.url}/what-i-see", content=b'{"a": 1}', headers=ktxlike.auth())
    assert r.status_code == 200
    assert r.json() == {"authorization": None, "token": None, "body": '{"a": 1}'}


def test_the_payloads_lifespan_runs_before_ready_and_its_answers_pass_through(ktxlike):
    assert (ktxlike.marks / "started").exists()
    r = httpx.post(f"{ktxlike.url}/semantic-layer/query", json={"text": "bad"}, headers=ktxlike.auth())
    assert r.status_code == 400 and r.json() == {"detail": "refused: bad"}
    r = httpx.post(f"{ktxlike.url}/semantic-layer/query", json={"nope": 1}, headers=ktxlike.auth())
    assert r.status_code == 422
    r = httpx.post(f"{ktxlike.url}/boom", headers=ktxlike.auth())
    assert r.status_code == 500 and r.json() == {"detail": "Daemon request failed: boom"}  # its own 500


def test_a_payload_that_raises_is_a_500_in_one_line_and_the_daemon_keeps_serving(tmp_path, ktxlike_python):
    d = Daemon(tmp_path, "--app", "ktxlike:create_raw_app", python=ktxlike_python)
    try:
        r = httpx.post(f"{d.url}/raise", headers=d.auth())
        assert r.status_code == 500 and r.json() == {"detail": "internal error in POST /raise: RuntimeError: raw failure"}
        assert httpx.get(f"{d.url}/health", headers=d.auth()).json()["pid"] == d.proc.pid
        assert "Traceback" in d.output()  # the log has it, for whoever debugs the payload
    finally:
        d.stop()


def test_a_client_that_disconnects_cancels_the_payloads_task(ktxlike):
    s = socket.create_connection(("127.0.0.1", ktxlike.port))
    s.sendall(
        f"POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ktxlike.token}\r\n"
        "Content-Length: 0\r\n\r\n".encode()
    )
    time.sleep(0.5)
    assert not (ktxlike.marks / "cancelled").exists()
    s.close()
    deadline = time.monotonic() + 5
    while not (ktxlike.marks / "cancelled").exists():
        assert time.monotonic() < deadline, "the payload's task was not cancelled"
        time.sleep(0.05)
    assert httpx.get(f"{ktxlike.url}/health", headers=ktxlike.auth()).json()["requests"] >= 2
    assert "Traceback" not in ktxlike.output()


@pytest.mark.parametrize("factory", ["create_app_without_health", "create_app_with_text_health", "create_raw_app"])
def test_a_payload_without_a_json_health_still_gets_our_fields(tmp_path, ktxlike_python, factory):
    d = Daemon(tmp_path, "--app", f"ktxlike:{factory}", python=ktxlike_python)
    try:
        r = httpx.get(f"{d.url}/health", headers=d.auth())
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "healthy" and body["pid"] == d.proc.pid and body["modules"]["ktxlike"] == str(PAYLOADS)
        if factory == "create_raw_app":  # no routes to read: it answers every route itself
            r = httpx.post(f"{d.url}/anything", headers=d.auth())
            assert r.status_code == 200 and r.text == "raw /anything"
            assert httpx.post(f"{d.url}/anything").status_code == 401
    finally:
        d.stop()


def test_a_payload_that_cannot_be_built_is_exit_1_in_one_line(tmp_path, ktxlike_python):
    for app, needle in (
        ("ktxlike:create_app_that_fails", "ktxlike:create_app_that_fails() failed: RuntimeError: no database configured"),
        ("ktxlike:no_such_factory", "the payload's module ktxlike has no no_such_factory"),
        ("no_such_module:create_app", "cannot import the payload's app module no_such_module: ModuleNotFoundError"),
        ("not-a-spec", "--app 'not-a-spec' is not MODULE:FACTORY"),
    ):
        d = Daemon(tmp_path, "--app", app, python=ktxlike_python, wait_for_state=False)
        try:
            assert d.proc.wait(30) == 1
            out = d.output()
            assert needle in out and "Traceback" not in out, out
        finally:
            d.stop()
        d.log_path.unlink()
    assert not (tmp_path / "daemon.json").exists()


def test_without_app_the_declaration_beside_the_host_names_the_app_and_its_packages(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    copy_host(site, {"app": "ktxlike:create_app", "oneshot": "ktxlike", "packages": ["ktxlike", "semantic_layer", "ktx_daemon"]})
    python = python_with(tmp_path / "venv", site, PAYLOADS)
    d = Daemon(tmp_path, python=python)
    try:
        body = httpx.get(f"{d.url}/health", headers=d.auth()).json()
        assert body["modules"] == {
            "ktx_host": os.path.realpath(site / "ktx_host"),
            "ktxlike": str(PAYLOADS),
            "semantic_layer": real_dir("semantic_layer"),
            "ktx_daemon": real_dir("ktx_daemon"),
        }
        assert "embeddingModel" not in body  # ktxlike's /health, not our payload's
    finally:
        d.stop()


# --------------------------------------------------------------------------- the daemon's life


def test_the_state_file_is_written_before_ready_and_private(ktxlike):
    state = json.loads(ktxlike.state_file.read_text())
    assert state == {
        "pid": ktxlike.proc.pid, "port": ktxlike.port, "version": version("kaelio-ktx"), "features": ["core"],
        "startedAt": state["startedAt"], "token": ktxlike.token, "wheelSha256": "ab" * 32, "reason": "start",
        "logFile": str(ktxlike.log_path),
    }
    assert state["startedAt"].endswith("Z")
    if os.name != "nt":
        assert (ktxlike.state_file.stat().st_mode & 0o777) == 0o600


def test_features_are_reported_as_given(tmp_path, ktxlike_python):
    d = Daemon(tmp_path, *KTXLIKE, "--features", "core,local-embeddings", python=ktxlike_python)
    try:
        assert json.loads(d.state_file.read_text())["features"] == ["core", "local-embeddings"]
        assert httpx.get(f"{d.url}/health", headers=d.auth()).json()["features"] == ["core", "local-embeddings"]
    finally:
        d.stop()


def test_shutdown_stops_it_and_removes_the_state_file(ktxlike):
    r = httpx.post(f"{ktxlike.url}/shutdown", headers=ktxlike.auth())
    assert r.status_code == 200 and r.json() == {"status": "shutting down"}
    assert ktxlike.proc.wait(15) == 0
    assert not ktxlike.state_file.exists()


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_sigterm_removes_the_state_file(ktxlike):
    ktxlike.proc.send_signal(signal.SIGTERM)
    ktxlike.proc.wait(15)
    assert not ktxlike.state_file.exists()


def test_a_second_daemon_on_the_same_lock_exits_4_and_touches_nothing(ktxlike, tmp_path, ktxlike_python):
    before = ktxlike.state_file.read_text()
    second = Daemon(tmp_path, *KTXLIKE, python=ktxlike_python, wait_for_state=False)
    try:
        assert second.proc.wait(15) == 4
        assert "another daemon holds" in second.output()
        assert ktxlike.state_file.read_text() == before
        assert ktxlike.proc.poll() is None
    finally:
        second.stop()


def test_a_state_file_that_names_another_process_stops_the_daemon_and_is_kept(ktxlike):
    state = json.loads(ktxlike.state_file.read_text())
    state["pid"] = 999999999
    ktxlike.state_file.write_text(json.dumps(state))
    assert ktxlike.proc.wait(15) == 0
    assert json.loads(ktxlike.state_file.read_text())["pid"] == 999999999
    assert "no longer names this daemon" in ktxlike.output()


@pytest.mark.parametrize("what", ["state", "watched"])
def test_a_removed_state_file_or_watched_path_stops_the_daemon_within_ten_seconds(ktxlike, what):
    start = time.monotonic()
    if what == "state":
        ktxlike.state_file.unlink()
    else:
        ktxlike.watched.rmdir()
    assert ktxlike.proc.wait(15) == 0
    assert time.monotonic() - start < 10
    assert "is gone" in ktxlike.output()


def test_an_idle_daemon_exits_and_unauthenticated_requests_do_not_keep_it_alive(tmp_path, ktxlike_python):
    d = Daemon(tmp_path, *KTXLIKE, "--idle-timeout", "2", python=ktxlike_python)
    try:
        start = time.monotonic()
        while d.proc.poll() is None and time.monotonic() - start < 15:
            try:
                assert httpx.get(f"{d.url}/health").status_code == 401  # no token
            except httpx.ConnectError:
                break  # it stopped listening: exiting
            time.sleep(0.2)
        assert d.proc.wait(5) == 0, "401s kept the daemon alive"
        assert time.monotonic() - start < 10
        assert not d.state_file.exists()
        assert "idle for 2s, exiting" in d.output()
    finally:
        d.stop()


def test_no_line_per_request_unless_the_access_log_is_asked_for(tmp_path, ktxlike_python):
    for flag in ((), ("--access-log",)):
        base = tmp_path / ("on" if flag else "off")
        base.mkdir()
        d = Daemon(base, *KTXLIKE, *flag, python=ktxlike_python)
        try:
            for _ in range(5):
                httpx.get(f"{d.url}/health", headers=d.auth())
        finally:
            d.stop()
        assert ("GET /health" in d.log_path.read_text()) == bool(flag), d.log_path.read_text()


def test_the_host_refuses_to_start_without_a_token_or_on_a_public_host(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KTX_DAEMON_TOKEN"}
    argv = [sys.executable, "-I", "-m", "ktx_host", "serve-http", "--port", "0"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "ktx-host: error: KTX_DAEMON_TOKEN is not set; the daemon refuses to start without a token\n"
    for bad, needle in ((["--host", "0.0.0.0"], "non-loopback host '0.0.0.0'"), (["--bogus"], "unrecognized arguments: --bogus")):
        proc = subprocess.run(argv + bad, capture_output=True, text=True, env=dict(env, KTX_DAEMON_TOKEN="x"), timeout=30)
        assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
