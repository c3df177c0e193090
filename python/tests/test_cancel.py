"""Cancellation: a request whose client goes away stops computing. Checkpoints raise once the
request's token is set; a model build stops at its next one; a client that disconnects from
the real daemon frees the daemon's CPU within 2 s, and the daemon answers other requests
meanwhile and afterwards."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import httpx
import pytest

import bigmodel
from conftest import query_request
from test_http import Daemon
from semantic_layer import cancel, limits


def test_a_checkpoint_raises_only_once_the_requests_token_is_set():
    cancel.checkpoint()  # no token: one-shot mode never cancels
    token = threading.Event()
    calls = []

    def op():
        cancel.checkpoint()
        calls.append("ran")
        token.set()
        cancel.checkpoint()
        calls.append("not reached")

    with pytest.raises(cancel.Cancelled):
        cancel.run(token, op)
    assert calls == ["ran"]
    cancel.checkpoint()  # the token belonged to that request only


def test_a_cancelled_model_build_stops_at_its_next_checkpoint_and_caches_nothing():
    from semantic_layer import model

    sources = bigmodel.sources(1000)  # about 2 s to build
    token = threading.Event()
    outcome = {}

    def build():
        try:
            cancel.run(token, model.get_model, sources, "postgres")
            outcome["result"] = "built"
        except cancel.Cancelled:
            outcome["result"] = "cancelled"
        outcome["at"] = time.monotonic()

    limits.ensure_recursion_limit()
    worker = threading.Thread(target=build)
    worker.start()
    time.sleep(0.3)
    cancelled_at = time.monotonic()
    token.set()
    worker.join(10)
    assert outcome["result"] == "cancelled"
    assert outcome["at"] - cancelled_at < 0.5
    assert model.cache_key(sources, "postgres") not in model._cache


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_a_client_that_disconnects_cancels_its_request_and_the_daemon_keeps_answering(tmp_path):
    daemon = Daemon(tmp_path)
    try:
        demo = query_request({"measures": ["orders.revenue"], "dimensions": ["customers.country"]})
        with httpx.Client(base_url=daemon.url, headers=daemon.auth(), timeout=30) as client:
            expected = client.post("/semantic-layer/query", json=demo)
            assert expected.status_code == 200

            # a legal request that takes seconds: the first query on a model at the size limits
            body = json.dumps(
                {
                    "sources": bigmodel.at_caps(),
                    "query": {"measures": ["s1999.m1"], "dimensions": ["s1998.c3"]},
                    "dialect": "postgres",
                }
            ).encode()
            slow = socket.create_connection(("127.0.0.1", daemon.ready["port"]))
            slow.sendall(
                f"POST /semantic-layer/query HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {daemon.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            sent = time.monotonic()
            busy_from = _cpu_seconds(daemon.proc.pid)
            time.sleep(0.2)

            # meanwhile: the daemon answers others
            assert client.get("/health").status_code == 200
            during = client.post("/semantic-layer/query", json=demo)
            assert during.status_code == 200 and during.json() == expected.json()

            time.sleep(max(0.0, sent + 0.5 - time.monotonic()))
            busy = _cpu_seconds(daemon.proc.pid) - busy_from
            slow.close()  # the client goes away ~0.5 s in
            closed = time.monotonic()
            assert busy > 0.1, f"the slow request did not keep the daemon busy ({busy:.2f} s of CPU)"

            time.sleep(2.0)
            first = _cpu_seconds(daemon.proc.pid)
            time.sleep(1.0)
            spent = _cpu_seconds(daemon.proc.pid) - first
            assert spent < 0.2, f"the daemon still spends {spent:.2f} s of CPU per second after the client left"
            assert time.monotonic() - closed < 4

            # afterwards: the daemon answers, and the cancelled request left no error behind
            after = client.post("/semantic-layer/query", json=demo)
            assert after.status_code == 200 and after.json() == expected.json()
            assert client.get("/health").status_code == 200
        log = daemon.output()
        assert "Traceback" not in log and " 500 " not in log, log
    finally:
        daemon.stop()
