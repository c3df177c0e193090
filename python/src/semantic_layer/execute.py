"""Run a compiled query against the project's SQLite connection (stdlib sqlite3)."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List

from .errors import RejectedError
from .model import Project

DEFAULT_MAX_ROWS = 1000


@dataclass
class Result:
    columns: List[str]
    rows: List[List[Any]]
    truncated: bool


def sqlite_path(project: Project) -> str:
    conn = project.connection or {}
    kind = conn.get("type")
    if kind != "sqlite":
        raise RejectedError(
            f"cannot execute: connection type {kind!r} in ktx.yaml is not supported; only sqlite is "
            "(compile without execute to get the SQL)"
        )
    rel = conn.get("path")
    if not isinstance(rel, str) or not rel:
        raise RejectedError("cannot execute: ktx.yaml connection.path (the SQLite file) is missing")
    path = rel if os.path.isabs(rel) else os.path.join(project.dir, rel)
    if not os.path.isfile(path):
        raise RejectedError(f"cannot execute: SQLite database not found: {path}")
    return path


def _value(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return v


def run_sqlite(path: str, sql: str, max_rows: int = DEFAULT_MAX_ROWS) -> Result:
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise RejectedError(f"cannot open SQLite database {path}: {exc}") from None
    try:
        try:
            cur = conn.execute(sql)
            batch = cur.fetchmany(max_rows + 1)
        except sqlite3.Error as exc:
            raise RejectedError(f"SQLite error: {exc}") from None
        columns = [d[0] for d in (cur.description or [])]
        truncated = len(batch) > max_rows
        rows = [[_value(v) for v in row] for row in batch[:max_rows]]
        return Result(columns, rows, truncated)
    finally:
        conn.close()
