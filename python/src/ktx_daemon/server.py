"""ktx-daemon serve-http: the local HTTP daemon (FastAPI + uvicorn, imported only here).

Routes: ``POST <route>`` for every op of ``ktx_daemon.protocol.OPS`` (anything else is a 404),
``GET /health`` and ``POST /shutdown``. Errors map through ``protocol.classify``: refused 400,
malformed 422, internal 500, each ``{"detail": <one line>}``. An op runs in the threadpool
(threads of ``limits.THREAD_STACK_BYTES`` stack) and is cancelled when its client disconnects
(``ktx_daemon.http_ops``).

Security: binds loopback only; every request, /health included, needs a loopback Host header
(else 403) and ``Authorization: Bearer <KTX_DAEMON_TOKEN>`` (else 401). The token is read from
the environment, never from argv. The daemon exits after ``--idle-timeout`` seconds without an
authenticated request.

Life (``ktx_daemon.lifecycle``): it holds ``--lock-file`` for its whole life (exit 4 if another
daemon holds it), writes ``--state-file`` (0600, atomically) once it serves and before it
reports ready, stops by itself within 10 s when that file no longer names it or a ``--watch``
path is gone, keeps ``--log-file`` under 1 MiB (one rotated file kept), logs one line per
request only with ``--access-log``, and removes its state file on exit when it names it.
"""

# no `from __future__ import annotations` here: FastAPI resolves endpoint annotations at runtime

import argparse
import asyncio
import datetime as _dt
import hmac
import ipaddress
import json
import os
import signal
import socket
import sys
import time
from typing import Any, Dict, List, Optional

from . import protocol
from .protocol import EXIT_OK, UsageError

TOKEN_ENV = "KTX_DAEMON_TOKEN"
# Another daemon of this version runs (the lock is held): ktx's exit code for "not now".
EXIT_LOCK_HELD = 4
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def _is_loopback_host(value: str) -> bool:
    if not value:
        return False
    host = value.strip().lower()
    if host.startswith("["):  # [::1] or [::1]:port
        end = host.find("]")
        if end < 0:
            return False
        rest = host[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return False
        host = host[1:end]
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
        if not port.isdigit():
            return False
    elif host.count(":") > 1:
        return False  # a bare IPv6 literal must be bracketed in a Host header
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind_host_ok(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def remove_state_file_if_ours(path: Optional[str]) -> bool:
    """Delete the state file only when it names this process."""
    from . import lifecycle

    return lifecycle.remove_state_if_mine(path)


class DaemonState:
    def __init__(
        self,
        token: str,
        idle_timeout: float,
        state_file: Optional[str],
        wheel_sha256: str = "",
        reason: str = "",
    ) -> None:
        self.token = token.encode("utf-8")
        self.idle_timeout = idle_timeout
        self.state_file = state_file
        self.wheel_sha256 = wheel_sha256
        self.reason = reason
        self.started_at = _utc_now()
        self.last_activity = time.monotonic()
        self.in_flight = 0
        self.requests = 0
        self.server: Any = None
        self.exit_reason: Optional[str] = None

    def idle_seconds_left(self) -> Optional[int]:
        if self.idle_timeout <= 0:
            return None
        return max(0, int(self.idle_timeout - (time.monotonic() - self.last_activity)))

    def request_exit(self, reason: str) -> None:
        if self.exit_reason is None:
            self.exit_reason = reason
        if self.server is not None:
            self.server.should_exit = True


def features() -> List[str]:
    from . import embeddings

    out = ["core"]
    if embeddings.available():
        out.append("local-embeddings")
    return out


def build_app(state: DaemonState):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from . import embeddings, http_ops, lifecycle
    from ._version import __version__

    app = FastAPI(
        title="ktx-daemon",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,  # /semantic-layer/query/ is a 404, not a redirect
    )
    routes = ", ".join(f"POST {op.route}" for op in protocol.OPS)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            detail = f"unknown route {request.method} {request.url.path}; routes: GET /health, POST /shutdown, {routes}"
        elif exc.status_code == 405:
            detail = f"method {request.method} not allowed on {request.url.path}"
        else:
            detail = str(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.middleware("http")
    async def guard(request: Request, call_next):
        # Only an authenticated request keeps the daemon alive: a local port scan does not.
        if not _is_loopback_host(request.headers.get("host", "")):
            return JSONResponse({"detail": "forbidden host"}, status_code=403)
        auth = request.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), state.token):
            return JSONResponse(
                {"detail": "missing or invalid token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        state.last_activity = time.monotonic()
        state.requests += 1
        state.in_flight += 1
        try:
            return await call_next(request)
        finally:
            state.in_flight -= 1
            state.last_activity = time.monotonic()

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        return {
            "status": "healthy",
            "version": __version__,
            "pid": os.getpid(),
            "features": features(),
            "startedAt": state.started_at,
            "wheelSha256": state.wheel_sha256,
            "reason": state.reason,
            "embeddingModel": embeddings.loaded_source(),
            "idleTimeout": state.idle_timeout,
            "idleSecondsLeft": state.idle_seconds_left(),
            "rssBytes": lifecycle.rss_bytes(),
            "requests": state.requests,
        }

    @app.post("/shutdown")
    async def shutdown() -> Dict[str, Any]:
        async def later() -> None:
            await asyncio.sleep(0.2)
            state.request_exit("shutdown")

        asyncio.get_running_loop().create_task(later())
        return {"status": "shutting down"}

    def make_endpoint(op: protocol.Op):
        async def endpoint(request: Request):
            return await http_ops.answer(request, op)

        endpoint.__name__ = op.name.replace("-", "_")
        return endpoint

    for op in protocol.OPS:
        app.add_api_route(op.route, make_endpoint(op), methods=["POST"])
    return app


async def _watch(state: DaemonState, ready: Dict[str, Any], args) -> None:
    from . import lifecycle

    server = state.server
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.01)
    if state.state_file:
        # Written before the ready line: whoever sees "ready" (or this file) can reach it.
        lifecycle.write_state(
            state.state_file,
            {
                "pid": os.getpid(),
                "port": ready["port"],
                "version": ready["version"],
                "features": features(),
                "startedAt": state.started_at,
                "token": state.token.decode("utf-8"),
                "wheelSha256": state.wheel_sha256,
                "reason": state.reason,
                "logFile": args.log_file or "",
            },
        )
    line = json.dumps(ready)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    if args.ready_file:
        _write_atomic(args.ready_file, line + "\n")
    dog = lifecycle.Watchdog(state.state_file, args.watch or [])
    log = lifecycle.LogCap(args.log_file)
    tick = max(0.05, min(1.0, state.idle_timeout / 4)) if state.idle_timeout > 0 else 1.0
    next_check = time.monotonic() + lifecycle.PERIOD
    while not server.should_exit:
        await asyncio.sleep(tick)
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + lifecycle.PERIOD
            log.check()
            why = dog.reason_to_exit()
            if why:
                sys.stderr.write(f"ktx-daemon: {lifecycle.utc_now()} {why}; exiting\n")
                sys.stderr.flush()
                state.request_exit("orphaned")
                return
        if (
            state.idle_timeout > 0
            and state.in_flight == 0
            and time.monotonic() - state.last_activity >= state.idle_timeout
        ):
            sys.stderr.write(f"ktx-daemon: idle for {state.idle_timeout:g}s, exiting\n")
            sys.stderr.flush()
            state.request_exit("idle")


def _usage(message: str) -> int:
    from .cli import report

    return report(protocol.classify(UsageError(message)))


def serve_main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="ktx-daemon serve-http", add_help=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file")
    parser.add_argument("--state-file")
    parser.add_argument("--idle-timeout", type=float, default=900.0, help="seconds; 0 disables")
    parser.add_argument("--preload-model", action="store_true")
    parser.add_argument("--lock-file", help="held for the daemon's whole life; exit 4 if held")
    parser.add_argument("--log-file", help="the file stdout and stderr append to; rotated at 1 MiB")
    parser.add_argument("--wheel-sha256", default="", help="the installed wheel's sha256 (echoed)")
    parser.add_argument("--features", default="", help="what ktx installed (informational)")
    parser.add_argument("--reason", default="", help="why ktx started it (echoed)")
    parser.add_argument("--watch", action="append", default=[], help="exit when this path is gone")
    parser.add_argument("--access-log", action="store_true", help="log one line per request")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else _usage("bad serve-http arguments (see --help)")

    token = os.environ.get(TOKEN_ENV, "")
    if not token.strip():
        return _usage(f"{TOKEN_ENV} is not set; the daemon refuses to start without a token")
    if not _bind_host_ok(args.host):
        return _usage(f"refusing to bind to non-loopback host '{args.host}'")
    if not 0 <= args.port <= 65535:
        return _usage(f"bad port {args.port}")

    lock: Optional[int] = None
    if args.lock_file:
        from . import lifecycle

        try:
            lock = lifecycle.hold_lock(args.lock_file)
        except lifecycle.LockHeld as exc:
            sys.stderr.write(f"ktx-daemon: error: {exc}\n")
            sys.stderr.flush()
            return EXIT_LOCK_HELD
        except OSError as exc:
            return _usage(f"cannot open the lock file {args.lock_file}: {exc.strerror or exc}")

    host = args.host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt" and args.port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, args.port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        from .cli import report

        return report(protocol.classify(OSError(f"cannot bind {args.host}:{args.port}: {exc.strerror or exc}"), "serve-http"))
    sock.set_inheritable(False)
    port = sock.getsockname()[1]

    from semantic_layer import limits

    limits.use_big_thread_stacks()  # before the threadpool starts its first thread
    limits.ensure_recursion_limit()
    state = DaemonState(token.strip(), args.idle_timeout, args.state_file, args.wheel_sha256, args.reason)
    try:
        return _serve(args, state, sock, port)
    finally:
        try:
            sock.close()
        except OSError:
            pass
        remove_state_file_if_ours(args.state_file)
        # The lock's descriptor is never closed: the OS releases it when the process ends, so
        # "the lock is free" means "the daemon is gone", not "about to go".


def _serve(args, state: DaemonState, sock: socket.socket, port: int) -> int:
    import uvicorn

    from ._version import __version__

    if args.preload_model:
        from semantic_layer.errors import RejectedError

        from . import embeddings

        try:
            embeddings.get_model()
        except RejectedError as exc:
            sys.stderr.write(f"ktx-daemon: warning: --preload-model: {exc}\n")

    app = build_app(state)
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=args.access_log,
        lifespan="off",
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = uvicorn.Server(config)
    state.server = server
    ready = {"event": "ready", "port": port, "pid": os.getpid(), "version": __version__}

    def on_term(signum, frame):  # uvicorn re-raises the signal after a graceful stop
        remove_state_file_if_ours(state.state_file)
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, on_term)
        except (ValueError, OSError):  # pragma: no cover - not the main thread / unsupported
            pass

    async def run() -> None:
        watcher = asyncio.ensure_future(_watch(state, ready, args))
        try:
            await server.serve(sockets=[sock])
        finally:
            watcher.cancel()
            remove_state_file_if_ours(state.state_file)

    asyncio.run(run())
    return EXIT_OK
