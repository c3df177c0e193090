"""The gate every HTTP request passes before the payload sees it: a loopback ``Host`` (else 403),
``Authorization: Bearer <token>`` (else 401), a body of at most ``MAX_BODY_BYTES`` (else 413)
whose JSON nests at most ``MAX_JSON_DEPTH`` levels (else 400), counted by a linear scan before
anything parses it.

Why these bounds: the Rust client reads project files of at most 4 MiB each and a model at
every limit of our payload is 2.5 MB of JSON, so 64 MiB is far above any real request and far
below what hurts the process. KTX's requests nest JSON about 6 levels deep (a request, its
sources, a source, its columns, a column); a payload parsing JSON recursively (``json.loads``,
pydantic) stops at Python's recursion limit (1,000 frames by default, fewer left inside a
server), where a 1 MB body of ``[`` would otherwise turn into a crash or an internal error.
512 levels is far above the first and safely below the second.
"""

from __future__ import annotations

import hmac
import ipaddress
import itertools
import re
from typing import Awaitable, Callable, Dict, Iterable, List, Optional, Tuple

MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_JSON_DEPTH = 512
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WHERE = "the request body"

Headers = List[Tuple[bytes, bytes]]


class Refusal(Exception):
    """A request the host answers itself: ``status`` with ``{"detail": message}``."""

    def __init__(self, status: int, message: str, headers: Optional[Headers] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


def is_loopback_host(value: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback (with or without a port)."""
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


def is_loopback_bind(host: str) -> bool:
    """Whether ``--host`` is an address of the loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def header_map(raw: Iterable[Tuple[bytes, bytes]]) -> Dict[str, str]:
    """ASGI headers as a dict of lower-case names (the last value of a repeated header)."""
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}


def check_caller(headers: Dict[str, str], token: bytes) -> None:
    """Refuse a request whose Host is not loopback (403) or without the token (401)."""
    if not is_loopback_host(headers.get("host", "")):
        raise Refusal(403, "forbidden host")
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), token):
        raise Refusal(401, "missing or invalid token", [(b"www-authenticate", b"Bearer")])


def _too_large(message: str) -> Refusal:
    # Close the connection: the rest of an oversized body is never read.
    return Refusal(413, message, [(b"connection", b"close")])


async def read_body(receive: Callable[[], Awaitable[dict]], headers: Dict[str, str]) -> Optional[bytes]:
    """The whole request body, refused (413) as soon as it is longer than ``MAX_BODY_BYTES``;
    None when the client disconnected before sending it all."""
    declared = headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large(f"{WHERE} has {int(declared):,} bytes; the limit is {MAX_BODY_BYTES:,}")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(f"{WHERE} has more than {MAX_BODY_BYTES:,} bytes; the limit is {MAX_BODY_BYTES:,}")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


_STRING = re.compile(rb'"[^"]*"')
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_STEPS = bytes.maketrans(_BRACKETS, b"\x01\xff\x01\xff")  # +1 opens, -1 (signed) closes
_LEAF = b"\x01\xff"
_SCAN_CHUNK = 1 << 20


def json_depth(body: bytes, stop_above: Optional[int] = None) -> int:
    """How deep JSON arrays and objects nest in ``body``, in linear time and without parsing.

    Escapes are dropped (a run of backslashes pairs up from the left, as in JSON), then strings,
    then every byte but brackets, each bracket becoming +1 (opens) or -1 (closes). While that
    shrinks by a quarter or more, adjacent open-close pairs (the leaves) are removed, each round
    one level less; the rest is the highest running sum. Exact for JSON; for a body cut short it
    may say one level more per round. With ``stop_above``, the scan stops at the first megabyte
    of brackets that goes deeper (the answer is then at least that deep)."""
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    steps = _STRING.sub(b"", text).translate(_STEPS, _NOT_BRACKETS)
    rounds = 0
    while steps:
        leaner = steps.replace(_LEAF, b"")
        if len(leaner) == len(steps):
            break
        removed, steps, rounds = len(steps) - len(leaner), leaner, rounds + 1
        if removed * 4 < removed + len(steps):
            break
    signed = memoryview(steps).cast("b")
    peak = level = 0
    for start in range(0, len(signed), _SCAN_CHUNK):
        chunk = signed[start : start + _SCAN_CHUNK]
        peak = max(peak, max(itertools.accumulate(chunk, initial=level)))
        level += sum(chunk)
        if stop_above is not None and rounds + peak > stop_above:
            break
    return rounds + peak


def check_depth(body: bytes) -> None:
    """Refuse (400) a body whose JSON nests deeper than ``MAX_JSON_DEPTH``."""
    depth = json_depth(body, MAX_JSON_DEPTH) if body else 0
    if depth > MAX_JSON_DEPTH:
        raise Refusal(
            400, f"{WHERE} nests JSON arrays or objects at least {depth:,} levels deep; the limit is {MAX_JSON_DEPTH:,}"
        )
