"""The host's command line: ``python -I -m ktx_host serve-http ...`` and ``python -I -m ktx_host check``.

    serve-http --host 127.0.0.1 --port 0 [--idle-timeout S] [--lock-file F] [--state-file F]
               [--log-file F] [--ready-file F] [--wheel-sha256 H] [--features core[,...]]
               [--reason R] [--watch PATH]... [--access-log] [--log-level L]
               [--preload-model] [--app MODULE:FACTORY]       (token: env KTX_DAEMON_TOKEN)
    check      the install check: one JSON object on stdout, exit 0 or 1

A usage error is one line on stderr, ``ktx-host: error: ...``, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, NoReturn, Optional

EXIT_USAGE = 2
COMMANDS = "serve-http, check"


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def serve_parser() -> Parser:
    p = Parser(prog="python -m ktx_host serve-http", description="Serve the payload's app as the ktx daemon.")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="0: the OS picks a free port (reported when ready)")
    p.add_argument("--idle-timeout", type=float, default=900.0, help="seconds without an authenticated request; 0 disables")
    p.add_argument("--lock-file", help="held for the daemon's whole life; exit 4 if another process holds it")
    p.add_argument("--state-file", help="daemon.json, written 0600 once serving; the daemon stops when it stops naming it")
    p.add_argument("--log-file", help="the file stdout and stderr append to; rotated at 1 MiB")
    p.add_argument("--ready-file", help="also write the ready line here")
    p.add_argument("--wheel-sha256", default="", help="the installed wheel's sha256 (reported)")
    p.add_argument("--features", default="core", help="what ktx installed, comma-separated (reported)")
    p.add_argument("--reason", default="", help="why ktx started it (reported)")
    p.add_argument("--watch", action="append", default=[], help="stop when this path is gone (repeatable)")
    p.add_argument("--access-log", action="store_true", help="log one line per request")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--preload-model", action="store_true", help="accepted for compatibility; the payload loads what it needs")
    p.add_argument("--app", help="the payload's app factory, MODULE:FACTORY (default: payload.json's, else ktx_daemon.app:create_app)")
    return p


def _usage_error(message: str) -> int:
    sys.stderr.write(f"ktx-host: error: {message}\n")
    sys.stderr.flush()
    return EXIT_USAGE


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    usage = "usage: python -m ktx_host COMMAND\n\n" + __doc__.split("\n\n", 1)[1]
    if not args:
        sys.stderr.write(usage)
        return _usage_error(f"missing command; commands: {COMMANDS}")
    if args[0] in ("-h", "--help", "help"):
        sys.stdout.write(usage)
        return 0
    command, rest = args[0], args[1:]
    try:
        if command == "check":
            if rest:
                raise UsageError(f"check takes no arguments, got {' '.join(rest)}")
            from .check import check_main

            return check_main()
        if command == "serve-http":
            parsed = serve_parser().parse_args(rest)
            from .guard import is_loopback_bind

            if not is_loopback_bind(parsed.host):
                raise UsageError(f"refusing to bind to non-loopback host '{parsed.host}'")
            if not 0 <= parsed.port <= 65535:
                raise UsageError(f"bad port {parsed.port}")
            from .serve import serve

            return serve(parsed)
    except UsageError as exc:
        return _usage_error(str(exc))
    return _usage_error(f"unknown command '{command}'; commands: {COMMANDS}")
