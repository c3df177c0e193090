"""The host's ASGI app around the payload's: every HTTP request passes the guard, the host answers
``/health``, ``/shutdown`` and unknown routes itself, and hands the rest to the payload with its
body already read and checked; when the client disconnects first, the payload's task is cancelled.

What the payload sees: the request without our ``Authorization`` header, its body in one
``http.request`` message, then ``http.disconnect`` once the client has gone; a cancelled task
(``asyncio.CancelledError`` where it awaits) when the client goes before the answer is
complete. Lifespan events pass through untouched; a WebSocket is refused (close 1008).
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from typing import Any, Dict, Optional

from . import guard, health
from .guard import Refusal
from .respond import one_line, send_json
from .routes import HEALTH, SHUTDOWN, Routes
from .state import State

SHUTDOWN_DELAY = 0.2  # seconds: the answer to /shutdown leaves before the server stops


class Host:
    def __init__(self, app: Any, state: State) -> None:
        self.app = app
        self.state = state
        self.routes = Routes(app)

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = guard.header_map(scope.get("headers", []))
        try:
            guard.check_caller(headers, self.state.token)
        except Refusal as refusal:
            await send_json(send, refusal.status, {"detail": refusal.message}, refusal.headers)
            return
        self.state.begin()
        try:
            await self._authenticated(scope, receive, send, headers)
        except Refusal as refusal:
            await send_json(send, refusal.status, {"detail": refusal.message}, refusal.headers)
        finally:
            self.state.end()

    async def _authenticated(self, scope: Dict[str, Any], receive: Any, send: Any, headers: Dict[str, str]) -> None:
        method, path = scope["method"], scope["path"]
        if self.routes.host_route(method, path):
            if path == HEALTH:
                await send_json(send, 200, await health.answer(self.app, scope, self.state))
            elif path == SHUTDOWN:
                asyncio.get_running_loop().call_later(SHUTDOWN_DELAY, self.state.request_exit, "shutdown")
                await send_json(send, 200, {"status": "shutting down"})
            return
        self.routes.check_payload_route(method, path)
        body = await guard.read_body(receive, headers)
        if body is None:
            return  # the client went away before sending its body: nobody to answer
        guard.check_depth(body)
        inner = dict(scope)
        inner["headers"] = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"authorization"]
        await relay(self.app, inner, body, receive, send)


async def relay(app: Any, scope: Dict[str, Any], body: bytes, receive: Any, send: Any) -> None:
    """Run the payload on one request whose body is read; cancel it if the client goes first."""
    gone = asyncio.Event()
    delivered = False
    state = {"started": False, "complete": False}

    async def app_receive() -> Dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def app_send(message: Dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            state["started"] = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            state["complete"] = True
        await send(message)

    task = asyncio.ensure_future(app(scope, app_receive, app_send))
    watcher = asyncio.ensure_future(_disconnect(receive))
    error: Optional[BaseException] = None
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        # A watcher that failed learnt nothing about the client: never cancel on a guess.
        if not task.done() and watcher.exception() is None:
            gone.set()
            if not state["complete"]:  # the client left before its answer: stop the work
                task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not gone.is_set():
                raise  # the host itself is being cancelled (the server stops)
        except Exception as exc:
            error = exc
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if error is not None:
        await _internal_error(error, scope, send, state["started"])


async def _disconnect(receive: Any) -> None:
    """Return once the client has disconnected (or its answer is complete)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _internal_error(exc: BaseException, scope: Dict[str, Any], send: Any, started: bool) -> None:
    """A payload that raised: one line and its traceback to the log, the line to the client (500)."""
    line = one_line(f"internal error in {scope['method']} {scope['path']}: {type(exc).__name__}: {exc}")
    sys.stderr.write(f"ktx-host: {line}\n")
    traceback.print_exception(type(exc), exc, exc.__traceback__)
    sys.stderr.flush()
    if not started:
        await send_json(send, 500, {"detail": line})
