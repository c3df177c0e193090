"""The daemon protocol in one place: the op table, exit codes, error kinds and their mapping.

Both transports use it: the one-shot CLI (``ktx-daemon <op>``, exit codes) and the HTTP server
(``POST <route>``, status codes). An op is found by its one-shot name or by its route, never by
anything else; an unknown name is a usage error (exit 2), an unknown route a 404.

    exception                         kind        exit  HTTP
    semantic_layer RejectedError      rejected    3     400
    semantic_layer MalformedError     malformed   1     422
    UsageError (one-shot only)        malformed   2     404
    anything else                     internal    1     500
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from semantic_layer.errors import MalformedError, RejectedError, one_line

from . import ops

EXIT_OK = 0
EXIT_ERROR = 1  # malformed request or internal fault
EXIT_USAGE = 2  # unknown op, bad arguments
EXIT_REJECTED = 3  # well-formed request, refused (bad query or model)

KIND_REJECTED = "rejected"
KIND_MALFORMED = "malformed"
KIND_INTERNAL = "internal"

__all__ = [
    "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_REJECTED", "KIND_REJECTED", "KIND_MALFORMED",
    "KIND_INTERNAL", "MalformedError", "RejectedError", "UsageError", "Failure", "classify", "Op", "OPS",
    "BY_NAME", "BY_ROUTE", "decode_request", "run",
]


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
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedError(f"{where} is not valid UTF-8") from None
    if not text.strip():
        raise MalformedError(f"expected one JSON object on {where}, got nothing")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedError(f"invalid JSON on {where}: {exc}") from None


def run(op: Op, req: Any) -> Dict[str, Any]:
    """Run one op on a decoded request."""
    if not isinstance(req, dict):
        raise MalformedError("the request must be a JSON object")
    return op.handler(req)
