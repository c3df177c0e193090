"""The ktx-daemon command line (also ``python -m ktx_daemon``).

    ktx-daemon --version
    ktx-daemon <op>            one JSON object on stdin -> one JSON object (one line) on stdout

The HTTP daemon is the runtime host's (``python -m ktx_host serve-http``), serving
``ktx_daemon.app:create_app``.

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
    op = protocol.BY_NAME.get(first)
    if op is None:
        hint = "; the daemon is served by python -m ktx_host serve-http" if first == "serve-http" else ""
        return report(
            protocol.classify(protocol.UsageError(f"unknown op '{first}'; known ops: {', '.join(names)}{hint}"))
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
