"""One op over HTTP: run it in the threadpool with a cancellation token, and stop it when the
host cancels the request (its client disconnected).

The answer is ``protocol.handle``'s, as in one-shot mode: 200 with the result, or the
failure's status with ``{"detail": <the one-line message>}`` (a refusal is 400 with the very
message one-shot prints). The host reads and bounds the body and watches the connection; when
the client goes before the answer, it cancels this task: the ``CancelledError`` sets the
request's ``semantic_layer.cancel`` token, the worker thread raises ``Cancelled`` at its next
checkpoint, and the task ends once the thread is free again.
"""

# no `from __future__ import annotations`: FastAPI resolves endpoint annotations at runtime

import asyncio
import os
import threading
from typing import Any

from semantic_layer import cancel

from . import protocol

WHERE = "the request body"


def _failure(exc: BaseException, op: protocol.Op):
    from fastapi.responses import JSONResponse

    failure = protocol.classify(exc, op.name)
    if failure.kind == protocol.KIND_INTERNAL and os.environ.get("KTX_DEBUG") == "1":
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)
    return JSONResponse(failure.detail(), status_code=failure.http_status)


async def answer(request: Any, op: protocol.Op):
    """The HTTP response to one op's request."""
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    try:
        body = await request.body()
    except Exception as exc:
        return _failure(exc, op)
    token = threading.Event()
    work = asyncio.ensure_future(run_in_threadpool(cancel.run, token, protocol.handle, op, body, WHERE))
    try:
        result = await asyncio.shield(work)
    except asyncio.CancelledError:
        token.set()  # the thread stops at its next checkpoint
        try:
            await work  # its slot is free after this
        except BaseException:
            pass  # Cancelled (or an answer nobody reads)
        raise
    except Exception as exc:
        return _failure(exc, op)
    return JSONResponse(result)
