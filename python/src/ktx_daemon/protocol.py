"""The daemon protocol in one place: the op table, exit codes, error kinds and their mapping.

Both transports use it: the one-shot CLI (``ktx-daemon <op>``, exit codes) and the HTTP app
(``ktx_daemon.app``: ``POST <route>``, status codes). An op is found by its one-shot name or by
its route, never by anything else; an unknown name is a usage error (exit 2), an unknown route a
404 (the runtime host's answer).

    exception                         kind        exit  HTTP
    semantic_layer RejectedError      rejected    3     400   (LimitError is one)
    semantic_layer MalformedError     malformed   1     422
    UsageError (one-shot only)        malformed   2     404
    semantic_layer Cancelled          cancelled   1     499   (never sent: the client is gone)
    anything else                     internal    1     500

``handle`` is what both transports run for a request, in a thread with a big stack
(``run_in_big_stack`` one-shot, the daemon's threadpool over HTTP): decode the JSON (at most
``limits.MAX_REQUEST_BYTES``), run the op, and turn a RecursionError or OverflowError that a
limit did not catch first into a refusal naming the limit, never an internal error.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

from semantic_layer import limits
from semantic_layer.cancel import Cancelled
from semantic_layer.errors import MalformedError, RejectedError, one_line
from semantic_layer.limits import LimitError

from . import ops

EXIT_OK = 0
EXIT_ERROR = 1  # malformed request or internal fault
EXIT_USAGE = 2  # unknown op, bad arguments
EXIT_REJECTED = 3  # well-formed request, refused (bad query or model)

KIND_REJECTED = "rejected"
KIND_MALFORMED = "malformed"
KIND_INTERNAL = "internal"
KIND_CANCELLED = "cancelled"
HTTP_CLIENT_CLOSED = 499  # nginx's "client closed request"; the daemon never sends it

__all__ = [
    "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_REJECTED", "KIND_REJECTED", "KIND_MALFORMED",
    "KIND_INTERNAL", "KIND_CANCELLED", "MalformedError", "RejectedError", "LimitError", "Cancelled", "UsageError",
    "Failure", "classify", "Op", "OPS", "BY_NAME", "BY_ROUTE", "decode_request", "run", "handle", "run_in_big_stack",
]

T = TypeVar("T")


class UsageError(Exception):
    """The command line is wrong (unknown op, extra arguments)."""

    def __init__(self, message: object) -> None:
        super().__init__(one_line(message))

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Failure:
    kind: str
    exit_code: int
    http_status: int
    message: str  # one line

    def body(self) -> Dict[str, Any]:
        """The one-shot JSON answer."""
        return {"error": {"kind": self.kind, "message": self.message}}

    def detail(self) -> Dict[str, Any]:
        """The HTTP JSON answer (FastAPI's shape)."""
        return {"detail": self.message}


def classify(exc: BaseException, op: Optional[str] = None) -> Failure:
    """The one mapping of an exception to (kind, exit code, HTTP status, one-line message)."""
    if isinstance(exc, RejectedError):
        return Failure(KIND_REJECTED, EXIT_REJECTED, 400, one_line(exc) or "refused")
    if isinstance(exc, MalformedError):
        return Failure(KIND_MALFORMED, EXIT_ERROR, 422, one_line(exc) or "malformed request")
    if isinstance(exc, UsageError):
        return Failure(KIND_MALFORMED, EXIT_USAGE, 404, one_line(exc) or "usage error")
    if isinstance(exc, Cancelled):
        return Failure(KIND_CANCELLED, EXIT_ERROR, HTTP_CLIENT_CLOSED, one_line(exc))
    where = f" in {op}" if op else ""
    return Failure(KIND_INTERNAL, EXIT_ERROR, 500, one_line(f"internal error{where}: {type(exc).__name__}: {exc}"))


@dataclass(frozen=True)
class Op:
    name: str  # the one-shot name: ktx-daemon <name>
    route: str  # POST <route>
    handler: Callable[[Dict[str, Any]], Dict[str, Any]]
    summary: str


# The op table: one line per op (the Rust CLI's `enum Op` mirrors it).
OPS: Tuple[Op, ...] = (
    Op("semantic-query", "/semantic-layer/query", ops.semantic_query, "compile a query into SQL"),
    Op("semantic-validate", "/semantic-layer/validate", ops.semantic_validate, "validate sources"),
    Op("semantic-generate-sources", "/semantic-layer/generate-sources", ops.semantic_generate_sources, "sources from tables"),
    Op("sql-parse-table-identifier", "/sql/parse-table-identifier", ops.sql_parse_table_identifier, "parse table names"),
    Op("sql-table-identifiers", "/sql/table-identifiers", ops.sql_table_identifiers, "the tables a SQL text reads"),
    Op("embedding-compute", "/embeddings/compute", ops.embedding_compute, "embed one text"),
    Op("embedding-compute-bulk", "/embeddings/compute-bulk", ops.embedding_compute_bulk, "embed 1 to 100 texts"),
)
BY_NAME: Dict[str, Op] = {op.name: op for op in OPS}
BY_ROUTE: Dict[str, Op] = {op.route: op for op in OPS}


def decode_request(raw: bytes, where: str) -> Any:
    """The JSON value of a request body; MalformedError when it is not JSON."""
    limits.check_count(len(raw), limits.MAX_REQUEST_BYTES, "bytes", where)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedError(f"{where} is not valid UTF-8") from None
    if not text.strip():
        raise MalformedError(f"expected one JSON object on {where}, got nothing")
    try:
        return json.loads(text)
    except RecursionError:
        raise LimitError(
            f"{where} nests JSON arrays or objects deeper than Python's recursion limit allows; "
            f"the limit is about {limits.RECURSION_LIMIT:,} levels"
        ) from None
    except ValueError as exc:
        raise MalformedError(f"invalid JSON on {where}: {exc}") from None


def run(op: Op, req: Any) -> Dict[str, Any]:
    """Run one op on a decoded request; a RecursionError or OverflowError becomes a refusal."""
    if not isinstance(req, dict):
        raise MalformedError("the request must be a JSON object")
    try:
        return op.handler(req)
    except RecursionError:
        raise LimitError(
            f"the request to {op.name} nests too deeply to process; the limit is {limits.MAX_DEPTH} levels "
            "of nesting in a SQL snippet and in measures built on measures"
        ) from None
    except OverflowError as exc:
        raise LimitError(f"a number in the request to {op.name} is out of range ({one_line(exc)})") from None


def handle(op: Op, raw: bytes, where: str) -> Dict[str, Any]:
    """Decode and run one request: what both transports do, in a thread with a big stack."""
    return run(op, decode_request(raw, where))


def run_in_big_stack(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a new thread of ``limits.THREAD_STACK_BYTES`` of stack; its result or error.

    The main thread's stack is what the OS gives it (1-8 MB); deep but legal SQL needs more
    on CPython 3.9 and 3.10, where every Python frame also uses C stack.
    """
    limits.use_big_thread_stacks()
    limits.ensure_recursion_limit()
    box: Dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="ktx-daemon-op", daemon=True)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
