"""A payload app shaped like KTX's own (``ktx_daemon.app:create_app`` in KTX's repository): FastAPI,
a lifespan, a middleware that reads every request's JSON, pydantic request models, ``/health``
answering ``{"status": "healthy"}``, and no token or Host check of its own. Written here for the
host's tests from what KTX's public files show; plus a few payloads that misbehave.

``KTXLIKE_MARKS`` (a directory) receives ``started`` when the lifespan starts and ``cancelled``
when ``POST /slow`` is cancelled.
"""

import asyncio
import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel


def _mark(name: str) -> None:
    marks = os.environ.get("KTXLIKE_MARKS")
    if marks:
        Path(marks, name).write_text(name)


class QueryRequest(BaseModel):
    text: str


def create_app(with_health: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI):
        _mark("started")
        yield

    app = FastAPI(title="ktx-like", lifespan=lifespan)

    @app.middleware("http")
    async def read_json_first(request: Request, call_next):
        try:
            await request.json()  # as KTX's does, to redact secrets from error reports
        except Exception:
            pass
        try:
            return await call_next(request)
        except Exception as error:
            return JSONResponse(status_code=500, content={"detail": f"Daemon request failed: {error}"})

    if with_health:

        @app.get("/health")
        async def health():
            return {"status": "healthy"}

    @app.post("/semantic-layer/query")
    async def query(request: QueryRequest):
        if request.text == "bad":
            raise HTTPException(status_code=400, detail="refused: bad")
        return {"echo": request.text}

    @app.post("/slow")
    async def slow():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            _mark("cancelled")
            raise
        return {"done": True}

    @app.post("/what-i-see")
    async def what_i_see(request: Request):
        return {
            "authorization": request.headers.get("authorization"),
            "token": os.environ.get("KTX_DAEMON_TOKEN"),
            "body": (await request.body()).decode(),
        }

    @app.post("/boom")
    async def boom():
        raise RuntimeError("boom")

    return app


def create_app_without_health() -> FastAPI:
    return create_app(with_health=False)


def create_app_with_text_health() -> FastAPI:
    app = create_app(with_health=False)

    @app.get("/health")
    async def health():
        return PlainTextResponse("ok")

    return app


def create_app_that_fails() -> FastAPI:
    raise RuntimeError("no database configured")


def create_raw_app():
    """A bare ASGI app: no routes the host can read, so it answers every request itself."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/raise":
            raise RuntimeError("raw failure")
        body = b"raw " + scope["path"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    return app
