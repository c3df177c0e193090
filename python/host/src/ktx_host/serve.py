"""``serve-http``: the daemon's life from start to exit, around uvicorn.

In order: the token is taken from ``KTX_DAEMON_TOKEN`` (and removed from the environment, so the
payload and its children never see it); the lock is taken (exit 4 when another daemon holds
it); the payload's app is built; a loopback socket is bound (port 0: the OS picks a free port,
no race) and served by uvicorn with the host around the app. Once uvicorn serves (the payload's
lifespan startup done), the state file is written (0600, atomically), then the ready line
``{"event": "ready", "port", "pid", "version"}`` goes to stdout (and ``--ready-file``). Then,
every ``lifecycle.PERIOD`` seconds: the log is capped and the watchdog asked; and the daemon
stops when idle for ``--idle-timeout`` seconds (authenticated requests only count), on
``POST /shutdown``, SIGTERM or SIGINT. It removes its state file on the way out when the file
still names it; the lock is released by the OS when the process ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from typing import Any, Dict, Optional

from . import lifecycle, payload
from .asgi import Host
from .state import State

TOKEN_ENV = "KTX_DAEMON_TOKEN"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCK_HELD = 4  # another daemon of this version runs: ktx's exit code for "not now"


class StartError(Exception):
    """The daemon cannot start (one line; ``exit_code`` says which kind)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _say(line: str) -> None:
    sys.stderr.write(f"ktx-host: {line}\n")
    sys.stderr.flush()


def _bind(host: str, port: int) -> socket.socket:
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt" and port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise StartError(f"cannot bind {host}:{port}: {exc.strerror or exc}", EXIT_FAILED) from None
    sock.set_inheritable(False)
    return sock


def serve(args: Any) -> int:
    """Run the daemon for parsed ``serve-http`` arguments; its exit code."""
    try:
        token = os.environ.pop(TOKEN_ENV, "").strip()
        if not token:
            raise StartError(f"{TOKEN_ENV} is not set; the daemon refuses to start without a token", EXIT_USAGE)
        declared = payload.declaration(app=args.app)
        if args.lock_file:
            try:
                lifecycle.hold_lock(args.lock_file)  # never closed: held until the process ends
            except lifecycle.LockHeld as exc:
                raise StartError(str(exc), EXIT_LOCK_HELD) from None
            except OSError as exc:
                raise StartError(f"cannot open the lock file {args.lock_file}: {exc.strerror or exc}", EXIT_FAILED) from None
        app = payload.load_app(declared.app)
        sock = _bind(args.host, args.port)
    except payload.PayloadError as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED
    except StartError as exc:
        _say(f"error: {exc}")
        return exc.exit_code
    features = [f.strip() for f in args.features.split(",") if f.strip()] or ["core"]
    state = State(
        token, args.idle_timeout, args.state_file, args.log_file, args.wheel_sha256, args.reason,
        features, payload.version(), declared.packages,
    )
    try:
        return _run(args, state, Host(app, state), sock)
    finally:
        try:
            sock.close()
        except OSError:
            pass
        lifecycle.remove_state_if_mine(args.state_file)


def _run(args: Any, state: State, host: Host, sock: socket.socket) -> int:
    import uvicorn

    config = uvicorn.Config(
        host,
        log_level=args.log_level,
        access_log=args.access_log,
        lifespan="auto",
        ws="none",
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = uvicorn.Server(config)
    state.server = server
    port = sock.getsockname()[1]
    ready = {"event": "ready", "port": port, "pid": os.getpid(), "version": state.version}

    def on_term(signum: int, frame: Any) -> None:  # uvicorn re-raises the signal after a graceful stop
        lifecycle.remove_state_if_mine(state.state_file)
        raise SystemExit(EXIT_OK)

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, on_term)
        except (ValueError, OSError):  # pragma: no cover - not the main thread / unsupported
            pass

    async def run() -> None:
        watcher = asyncio.ensure_future(_watch(args, state, ready))
        try:
            await server.serve(sockets=[sock])
        finally:
            watcher.cancel()
            lifecycle.remove_state_if_mine(state.state_file)

    asyncio.run(run())
    return EXIT_OK


async def _watch(args: Any, state: State, ready: Dict[str, Any]) -> None:
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
                "version": state.version,
                "features": state.features,
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
        lifecycle.write_atomic(args.ready_file, line + "\n")
    dog = lifecycle.Watchdog(state.state_file, args.watch)
    log = lifecycle.LogCap(args.log_file)
    tick = max(0.05, min(1.0, state.idle_timeout / 4)) if state.idle_timeout > 0 else 1.0
    next_check = time.monotonic() + lifecycle.PERIOD
    while not server.should_exit:
        await asyncio.sleep(tick)
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + lifecycle.PERIOD
            log.check()
            why: Optional[str] = dog.reason_to_exit()
            if why:
                _say(f"{lifecycle.utc_now()} {why}; exiting")
                state.request_exit("orphaned")
                return
        if state.idle_expired():
            _say(f"idle for {state.idle_timeout:g}s, exiting")
            state.request_exit("idle")
