"""ktx-daemon command line.

    ktx-daemon --version
    ktx-daemon <op>            one JSON object on stdin -> one JSON object on stdout
    ktx-daemon serve-http ...  the local HTTP daemon (see ktx_daemon.server)

Exit codes: 0 ok, 1 malformed request or internal fault, 2 usage, 3 refused request.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3

USAGE = """usage: ktx-daemon --version
       ktx-daemon <op>   (reads one JSON object on stdin, writes one JSON object on stdout)
       ktx-daemon serve-http --host 127.0.0.1 --port 0 [--ready-file PATH] [--state-file PATH]
                             [--idle-timeout SECONDS] [--preload-model]   (token: env KTX_DAEMON_TOKEN)
ops: {ops}"""


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip()) or "error"


def _emit(obj: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(kind: str, message: str, code: int) -> int:
    message = _one_line(message)
    _emit({"error": {"kind": kind, "message": message}})
    sys.stderr.write(f"ktx-daemon: error: {message}\n")
    sys.stderr.flush()
    return code


def _debug() -> bool:
    return os.environ.get("KTX_DEBUG") == "1"


def run_op(op: str) -> int:
    from semantic_layer.errors import RejectedError

    from .errors import MalformedRequest
    from .ops import dispatch

    try:
        raw = sys.stdin.buffer.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MalformedRequest("stdin is not valid UTF-8") from None
        if not text.strip():
            raise MalformedRequest("expected one JSON object on stdin, got nothing")
        try:
            req = json.loads(text)
        except ValueError as exc:
            raise MalformedRequest(f"invalid JSON on stdin: {exc}") from None
        result = dispatch(op, req)
    except RejectedError as exc:
        if _debug():
            import traceback

            traceback.print_exc()
        return fail("rejected", str(exc), EXIT_REJECTED)
    except MalformedRequest as exc:
        if _debug():
            import traceback

            traceback.print_exc()
        return fail("malformed", str(exc), EXIT_ERROR)
    except Exception as exc:  # an internal fault: one line, no traceback unless KTX_DEBUG=1
        if _debug():
            import traceback

            traceback.print_exc()
        return fail("internal", f"internal error in {op}: {type(exc).__name__}: {exc}", EXIT_ERROR)
    _emit(result)
    return EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    from .ops import OPS

    usage = USAGE.format(ops=", ".join(OPS))
    if not args:
        sys.stderr.write(usage + "\n")
        return fail("malformed", "missing op; see ktx-daemon --help", EXIT_USAGE)
    first = args[0]
    if first in ("-h", "--help", "help"):
        sys.stdout.write(usage + "\n")
        return EXIT_OK
    if first in ("--version", "-V"):
        from ._version import __version__

        sys.stdout.write(f"ktx-daemon {__version__}\n")
        return EXIT_OK
    if first == "serve-http":
        from .server import serve_main

        return serve_main(args[1:])
    if first not in OPS:
        return fail("malformed", f"unknown op '{first}'; known ops: {', '.join(OPS)}, serve-http", EXIT_USAGE)
    if len(args) > 1:
        return fail("malformed", f"op '{first}' takes no arguments (the request is read from stdin)", EXIT_USAGE)
    return run_op(first)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
