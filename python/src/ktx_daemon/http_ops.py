"""One op over HTTP: read the body within its limit, run the op in the threadpool with a
cancellation token, cancel it when the client disconnects.

The answer is ``protocol.handle``'s, as in one-shot mode: 200 with the result, or the
failure's status with ``{"detail": <the one-line message>}`` (a refusal is 400 with the very
message one-shot prints). While the op runs in a worker thread, the event loop waits for the
client's ``http.disconnect`` (the next ASGI receive after the body). When it comes first, the
request's token is set, the op raises ``Cancelled`` at its next checkpoint and its thread is
free again; the response (499) is dropped by the server, since nobody is there to read it.
"""

# no `from __future__ import annotations`: FastAPI resolves endpoint annotations at runtime

import asyncio
import os
import threading
from typing import Any

from semantic_layer import cancel
from semantic_layer.limits import MAX_REQUEST_BYTES, LimitError

from . import protocol

WHERE = "the request body"


async def _body(request: Any) -> bytes:
    """The request body, refused (LimitError) as soon as it is longer than the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise LimitError(f"{WHERE} has {int(declared):,} bytes; the limit is {MAX_REQUEST_BYTES:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise LimitError(f"{WHERE} has more than {MAX_REQUEST_BYTES:,} bytes; the limit is {MAX_REQUEST_BYTES:,}")
        chunks.append(chunk)
    return b"".join(chunks)


async def _disconnected(request: Any) -> None:
    """Return when the client has gone (the body is read: only a disconnect can come next)."""
    try:
        while True:
            message = await request.receive()
            if message.get("type") == "http.disconnect":
                return
    except asyncio.CancelledError:
        raise
    except Exception:  # nothing more to learn from this connection: never cancel on a guess
        await asyncio.Event().wait()


def _failure(exc: BaseException, op: protocol.Op):
    from fastapi.responses import JSONResponse

    failure = protocol.classify(exc, op.name)
    if failure.kind == protocol.KIND_INTERNAL and os.environ.get("KTX_DEBUG") == "1":
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)
    return JSONResponse(failure.detail(), status_code=failure.http_status)


async def answer(request: Any, op: protocol.Op):
    """The HTTP response to one op's request."""
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect

    try:
        body = await _body(request)
    except ClientDisconnect:
        return Response(status_code=protocol.HTTP_CLIENT_CLOSED)
    except Exception as exc:
        return _failure(exc, op)

    token = threading.Event()
    work = asyncio.ensure_future(run_in_threadpool(cancel.run, token, protocol.handle, op, body, WHERE))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not work.done():  # the client went away first
        token.set()
        try:
            await work  # the thread stops at its next checkpoint; the slot is free after this
        except Exception:
            pass
        return Response(status_code=protocol.HTTP_CLIENT_CLOSED)
    try:
        result = work.result()
    except Exception as exc:
        return _failure(exc, op)
    return JSONResponse(result)
