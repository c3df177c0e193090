"""The ktx-daemon command line (also ``python -m ktx_daemon``).

    ktx-daemon --version
    ktx-daemon <op>            one JSON object on stdin -> one JSON object (one line) on stdout
    ktx-daemon serve-http ...  the local HTTP daemon (see ktx_daemon.server)

Exit codes and error kinds are ``ktx_daemon.protocol``'s. On error stdout carries
``{"error": {"kind", "message"}}`` and stderr one line ``ktx-daemon: error: <message>``;
``KTX_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional

from . import protocol

USAGE = """usage: ktx-daemon --version
       ktx-daemon <op>   (reads one JSON object on stdin, writes one JSON object on stdout)
       ktx-daemon serve-http --host 127.0.0.1 --port 0 [--ready-file PATH] [--state-file PATH]
                             [--lock-file PATH] [--log-file PATH] [--watch PATH]...
                             [--wheel-sha256 HEX] [--reason WHY] [--access-log]
                             [--idle-timeout SECONDS] [--preload-model] [--log-level LEVEL]
                             (token: env KTX_DAEMON_TOKEN)
ops: {ops}"""


def _emit(obj: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def report(failure: protocol.Failure) -> int:
    """Write a failure the one-shot way (JSON on stdout, one line on stderr); its exit code."""
    _emit(failure.body())
    sys.stderr.write(f"ktx-daemon: error: {failure.message}\n")
    sys.stderr.flush()
    return failure.exit_code


def debug_enabled() -> bool:
    return os.environ.get("KTX_DEBUG") == "1"


def run_op(op: protocol.Op) -> int:
    from semantic_layer.limits import MAX_REQUEST_BYTES

    try:
        raw = sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1)  # one byte over is enough to refuse
        result = protocol.run_in_big_stack(protocol.handle, op, raw, "stdin")
    except Exception as exc:
        if debug_enabled():
            import traceback

            traceback.print_exc()
        return report(protocol.classify(exc, op.name))
    _emit(result)
    return protocol.EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    names = [op.name for op in protocol.OPS]
    if not args:
        sys.stderr.write(USAGE.format(ops=", ".join(names)) + "\n")
        return report(protocol.classify(protocol.UsageError("missing op; see ktx-daemon --help")))
    first = args[0]
    if first in ("-h", "--help", "help"):
        sys.stdout.write(USAGE.format(ops=", ".join(names)) + "\n")
        return protocol.EXIT_OK
    if first in ("--version", "-V"):
        from ._version import __version__

        sys.stdout.write(f"ktx-daemon {__version__}\n")
        return protocol.EXIT_OK
    if first == "serve-http":
        from .server import serve_main

        return serve_main(args[1:])
    op = protocol.BY_NAME.get(first)
    if op is None:
        return report(
            protocol.classify(protocol.UsageError(f"unknown op '{first}'; known ops: {', '.join(names)}, serve-http"))
        )
    if len(args) > 1:
        return report(
            protocol.classify(
                protocol.UsageError(f"op '{first}' takes no arguments (the request is read from stdin)")
            )
        )
    return run_op(op)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
