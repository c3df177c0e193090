"""``GET /health``: the payload's own ``/health`` (asked in-process, over ASGI) with the host's
fields merged over it.

The host's fields: ``status``, ``version`` (the installed distribution's METADATA), ``pid``,
``features`` (``--features``), ``startedAt``, ``wheelSha256``, ``reason``, ``rssBytes``,
``idleTimeout``, ``idleSecondsLeft``, ``requests`` and ``modules`` (``{package: the real
directory it was imported from}`` for ``ktx_host`` and every payload package: which code this
daemon serves). A payload without ``/health``, or one that answers anything but a JSON object
within ``PAYLOAD_TIMEOUT`` seconds, still gets them.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Dict

from . import lifecycle, payload
from .state import State

PAYLOAD_TIMEOUT = 1.0
# Not handed to the payload: our token, and what would change the shape of its answer.
DROPPED_HEADERS = {b"authorization", b"content-length", b"transfer-encoding", b"accept-encoding"}


async def payload_health(app: Any, scope: Dict[str, Any]) -> Dict[str, Any]:
    """The payload's ``GET /health`` JSON object, or ``{}``."""
    sub = dict(scope)
    sub.update(
        method="GET",
        path="/health",
        raw_path=b"/health",
        query_string=b"",
        headers=[(k, v) for k, v in scope.get("headers", []) if k.lower() not in DROPPED_HEADERS],
    )
    sent = {"status": None, "body": []}
    asked = False

    async def receive() -> Dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the sub-request ends when the app answers
        return {"type": "http.disconnect"}

    async def send(message: Dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            sent["body"].append(message.get("body", b""))

    try:
        await asyncio.wait_for(app(sub, receive, send), PAYLOAD_TIMEOUT)
        answer = json.loads(b"".join(sent["body"]) or b"null") if sent["status"] == 200 else None
    except Exception:  # a payload whose /health fails still gets the host's fields
        return {}
    return answer if isinstance(answer, dict) else {}


def host_fields(state: State) -> Dict[str, Any]:
    return {
        "status": "healthy",
        "version": state.version,
        "pid": os.getpid(),
        "features": state.features,
        "startedAt": state.started_at,
        "wheelSha256": state.wheel_sha256,
        "reason": state.reason,
        "rssBytes": lifecycle.rss_bytes(),
        "idleTimeout": state.idle_timeout,
        "idleSecondsLeft": state.idle_seconds_left(),
        "requests": state.requests,
        "modules": payload.modules(state.packages),
    }


async def answer(app: Any, scope: Dict[str, Any], state: State) -> Dict[str, Any]:
    merged = await payload_health(app, scope)
    merged.update(host_fields(state))
    return merged
