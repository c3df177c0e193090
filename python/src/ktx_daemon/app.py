"""The payload's ASGI app: ``create_app()``, the factory the runtime host (``ktx_host``) serves.

Routes: ``POST <route>`` for every op of ``ktx_daemon.protocol.OPS`` and ``GET /health``
(``{"status": "healthy", "embeddingModel"}``; the host merges its own fields over it). An op's
answer is ``protocol.handle``'s, as in one-shot mode: 200 with the result, or the failure's
status with ``{"detail": <one line>}`` (refused 400, malformed 422, internal 500;
``ktx_daemon.http_ops``). Everything a daemon guarantees (token, loopback Host, limits on the
body, lock, state file, idle exit, cancellation on disconnect) is the host's.
"""

# no `from __future__ import annotations` here: FastAPI resolves endpoint annotations at runtime

from typing import Any, Dict


def create_app():
    from fastapi import FastAPI, Request
    from semantic_layer import limits

    from . import embeddings, http_ops, protocol
    from ._version import __version__

    # Before the threadpool starts its first thread: ops run in threads with a big stack.
    limits.use_big_thread_stacks()
    limits.ensure_recursion_limit()
    app = FastAPI(
        title="ktx-daemon",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,  # /semantic-layer/query/ is a 404, not a redirect
    )

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        return {"status": "healthy", "embeddingModel": embeddings.loaded_source()}

    def make_endpoint(op: protocol.Op):
        async def endpoint(request: Request):
            return await http_ops.answer(request, op)

        endpoint.__name__ = op.name.replace("-", "_")
        return endpoint

    for op in protocol.OPS:
        app.add_api_route(op.route, make_endpoint(op), methods=["POST"])
    return app
