"""``check``: the install check, the same for every payload. Every top-level package of the
payload imports (here, in this interpreter), and its one-shot entry, run as
``python -I -m <oneshot> --help`` (stdin closed, the working directory unchanged, at most
``ONESHOT_TIMEOUT`` seconds), exits 0. The version is the distribution's METADATA, never a flag
the payload may not have.

Prints one JSON object on stdout and exits 0, or 1 with ``"error"`` (one line) added::

    {"version": "0.1.0", "packages": {"ktx_host": "<dir>", "ktx_daemon": "<dir>", ...},
     "oneshot": {"argv": [...], "exit": 0, "output": "<its first 2,000 characters>"}}

What a payload prints while it is imported goes to stderr, so stdout holds only that object.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
from typing import Any, Dict, Iterator, Optional

from . import payload

ONESHOT_TIMEOUT = 60
OUTPUT_CHARS = 2000


class CheckFailed(Exception):
    """What the check found wrong, in one line."""


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    sys.stdout.flush()
    saved_fd, saved_stream = os.dup(1), sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stdout = saved_stream
        os.dup2(saved_fd, 1)
        os.close(saved_fd)


def import_packages(declared: payload.Payload, found: Dict[str, Optional[str]]) -> None:
    """Import every package of the payload, recording where each came from in ``found``."""
    found[payload.HOST_PACKAGE] = payload.origin(payload.HOST_PACKAGE)
    with _stdout_to_stderr():
        for name in declared.packages:
            try:
                importlib.import_module(name)
            except (Exception, SystemExit) as exc:
                raise CheckFailed(f"cannot import {name}: {type(exc).__name__}: {exc}") from None
            found[name] = payload.origin(name)


def run_oneshot(module: str) -> Dict[str, Any]:
    """Run ``python -I -m <module> --help``: its argv, exit code (None when it did not end or
    could not start) and first ``OUTPUT_CHARS`` characters of output, and ``error`` if not 0."""
    argv = [sys.executable, "-I", "-m", module, "--help"]
    ran: Dict[str, Any] = {"argv": argv, "exit": None, "output": ""}
    shown = f"python -I -m {module} --help"
    try:
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=ONESHOT_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        ran["output"] = (exc.output or b"").decode("utf-8", "replace")[:OUTPUT_CHARS]
        ran["error"] = f"{shown} did not exit within {ONESHOT_TIMEOUT} s"
        return ran
    except OSError as exc:
        ran["error"] = f"cannot run {sys.executable}: {exc.strerror or exc}"
        return ran
    ran["exit"] = proc.returncode
    ran["output"] = proc.stdout.decode("utf-8", "replace")[:OUTPUT_CHARS]
    if proc.returncode != 0:
        lines = [line for line in proc.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
        ran["error"] = f"{shown} exited {proc.returncode}: {lines[-1] if lines else 'no output'}"
    return ran


def flat(text: str) -> str:
    """``text`` on one line."""
    return " ".join(text.split())


def check_main() -> int:
    report: Dict[str, Any] = {"version": payload.version(), "packages": {}, "oneshot": None}
    try:
        declared = payload.declaration()
        import_packages(declared, report["packages"])
        ran = run_oneshot(declared.oneshot)
        error = ran.pop("error", None)
        report["oneshot"] = ran
        if error:
            raise CheckFailed(error)
    except (CheckFailed, payload.PayloadError) as exc:
        report["error"] = flat(str(exc))
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    return 1 if "error" in report else 0
