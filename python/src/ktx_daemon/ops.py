"""The operations, shared by the one-shot CLI and the HTTP server.

Each handler takes the decoded JSON request (a dict) and returns a JSON-able dict. Handlers
raise ``semantic_layer.errors.RejectedError`` for a refused request and
``ktx_daemon.errors.MalformedRequest`` for a request of the wrong shape. Heavy modules are
imported inside the handlers so that one-shot ops only pay for what they use.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from semantic_layer.errors import RejectedError

from .errors import MalformedRequest

Handler = Callable[[Dict[str, Any]], Dict[str, Any]]


def _req_str(req: Dict[str, Any], key: str) -> str:
    value = req.get(key)
    if not isinstance(value, str):
        raise MalformedRequest(f"'{key}' must be a string")
    return value


def _opt_str(req: Dict[str, Any], key: str) -> Optional[str]:
    value = req.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedRequest(f"'{key}' must be a string or null")
    return value or None


def _opt_int(req: Dict[str, Any], key: str) -> Optional[int]:
    value = req.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise MalformedRequest(f"'{key}' must be an integer or null")
    return value


def semantic_query(req: Dict[str, Any]) -> Dict[str, Any]:
    from semantic_layer.query import MalformedQuery, parse_query

    project_dir = _req_str(req, "project_dir")
    if "query" not in req:
        raise MalformedRequest("'query' is required")
    try:
        query = parse_query(req["query"])
    except MalformedQuery as exc:
        raise MalformedRequest(str(exc)) from None
    dialect = _opt_str(req, "dialect")
    execute = req.get("execute", False)
    if execute is None:
        execute = False
    if not isinstance(execute, bool):
        raise MalformedRequest("'execute' must be a boolean")
    max_rows = _opt_int(req, "max_rows")
    if max_rows is not None and max_rows < 0:
        raise RejectedError(f"max_rows must be >= 0, got {max_rows}")

    from semantic_layer.model import load_project
    from semantic_layer.planner import Planner

    project = load_project(project_dir)
    planner = Planner(project)
    compiled = planner.compile(query, dialect)
    out: Dict[str, Any] = {
        "sql": compiled.sql,
        "dialect": compiled.dialect,
        "columns": None,
        "rows": None,
        "row_count": None,
        "truncated": False,
    }
    if execute:
        from semantic_layer.execute import DEFAULT_MAX_ROWS, run_sqlite, sqlite_path

        path = sqlite_path(project)
        runnable = compiled if compiled.dialect == "sqlite" else planner.compile(query, "sqlite")
        result = run_sqlite(path, runnable.sql, DEFAULT_MAX_ROWS if max_rows is None else max_rows)
        out.update(
            columns=compiled.columns,
            rows=result.rows,
            row_count=len(result.rows),
            truncated=result.truncated,
        )
    return out


def semantic_validate(req: Dict[str, Any]) -> Dict[str, Any]:
    project_dir = _req_str(req, "project_dir")
    from semantic_layer.model import load_project

    project = load_project(project_dir)
    return {"valid": True, "sources": list(project.sources), "errors": []}


def semantic_generate_sources(req: Dict[str, Any]) -> Dict[str, Any]:
    if "schema" not in req:
        raise MalformedRequest("'schema' is required")
    from semantic_layer.generate import MalformedSchema, generate_sources

    try:
        return {"sources": generate_sources(req["schema"])}
    except MalformedSchema as exc:
        raise MalformedRequest(str(exc)) from None


def sql_table_identifiers(req: Dict[str, Any]) -> Dict[str, Any]:
    sql = _req_str(req, "sql")
    dialect = _opt_str(req, "dialect")
    from semantic_layer.tables import table_identifiers

    return {"tables": table_identifiers(sql, dialect)}


def embedding_compute(req: Dict[str, Any]) -> Dict[str, Any]:
    texts = req.get("texts")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise MalformedRequest("'texts' must be a list of strings")
    from . import embeddings

    return embeddings.compute(texts)


# op name -> (handler, HTTP route)
OPS: Dict[str, Handler] = {
    "semantic-query": semantic_query,
    "semantic-validate": semantic_validate,
    "semantic-generate-sources": semantic_generate_sources,
    "sql-table-identifiers": sql_table_identifiers,
    "embedding-compute": embedding_compute,
}

ROUTES: Dict[str, str] = {
    "/semantic-layer/query": "semantic-query",
    "/semantic-layer/validate": "semantic-validate",
    "/semantic-layer/generate-sources": "semantic-generate-sources",
    "/sql/table-identifiers": "sql-table-identifiers",
    "/embeddings": "embedding-compute",
}


def dispatch(op: str, req: Any) -> Dict[str, Any]:
    if not isinstance(req, dict):
        raise MalformedRequest("the request must be a JSON object")
    return OPS[op](req)
