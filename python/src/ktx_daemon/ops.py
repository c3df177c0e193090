"""The handlers of the protocol's ops: a decoded JSON request (dict) in, a JSON-able dict out.

Each handler checks the request's shape (``MalformedError``: unknown or mistyped keys) and
leaves refusals (``RejectedError``) to the semantic layer. Heavy modules (sqlglot, the planner,
sentence-transformers) are imported inside the handlers, so that a one-shot op only pays for
what it uses. Which op is which route is ``ktx_daemon.protocol.OPS``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from semantic_layer.errors import MalformedError
from semantic_layer.limits import MAX_BULK_TEXTS

DEFAULT_DIALECT = "postgres"  # KTX's default


def _keys(req: Dict[str, Any], allowed: Tuple[str, ...], required: Tuple[str, ...] = ()) -> None:
    for key in req:
        if key not in allowed:
            raise MalformedError(f"unknown request key '{key}'; allowed: {', '.join(allowed)}")
    for key in required:
        if key not in req:
            raise MalformedError(f"'{key}' is required")


def _opt_str(req: Dict[str, Any], key: str) -> Optional[str]:
    value = req.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedError(f"'{key}' must be a string")
    return value or None


def _dialect(req: Dict[str, Any], key: str = "dialect", default: Optional[str] = DEFAULT_DIALECT) -> str:
    from semantic_layer.expressions import check_dialect

    return check_dialect(_opt_str(req, key) or default)


def _str_list(req: Dict[str, Any], key: str) -> Optional[List[str]]:
    value = req.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedError(f"'{key}' must be a list of strings")
    return value


def semantic_query(req: Dict[str, Any]) -> Dict[str, Any]:
    _keys(req, ("sources", "query", "dialect", "projectId", "source_dialect"), ("sources", "query"))
    _opt_str(req, "projectId")
    if not isinstance(req["sources"], list):
        raise MalformedError("'sources' must be a list of source objects")
    from semantic_layer.query import parse_query

    query = parse_query(req["query"])
    dialect = _dialect(req)
    read = _dialect(req, "source_dialect", default=dialect)

    from semantic_layer.model import get_model
    from semantic_layer.planner import Planner

    compiled = Planner(get_model(req["sources"], read)).compile(query, dialect)
    return {"sql": compiled.sql, "dialect": compiled.dialect, "columns": compiled.columns, "plan": compiled.plan}


def semantic_validate(req: Dict[str, Any]) -> Dict[str, Any]:
    _keys(req, ("sources", "dialect", "recently_touched", "projectId"), ("sources",))
    _opt_str(req, "projectId")
    if not isinstance(req["sources"], list):
        raise MalformedError("'sources' must be a list of source objects")
    touched = _str_list(req, "recently_touched")
    dialect = _dialect(req)
    from semantic_layer.validate import validate_sources

    return validate_sources(req["sources"], dialect, touched)


def semantic_generate_sources(req: Dict[str, Any]) -> Dict[str, Any]:
    _keys(req, ("tables", "links", "dialect"), ("tables",))
    dialect = _dialect(req)
    from semantic_layer.generate import generate_sources

    return generate_sources(req["tables"], req.get("links"), dialect)


def sql_parse_table_identifier(req: Dict[str, Any]) -> Dict[str, Any]:
    _keys(req, ("items",), ("items",))
    items = req["items"]
    if not isinstance(items, list):
        raise MalformedError("'items' must be a list of {key, sql_table_name, dialect}")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedError(f"items[{i}] must be an object")
        for key in item:
            if key not in ("key", "sql_table_name", "dialect"):
                raise MalformedError(f"unknown key '{key}' in items[{i}]; allowed: key, sql_table_name, dialect")
        for key in ("key", "sql_table_name", "dialect"):
            if not isinstance(item.get(key), str):
                raise MalformedError(f"items[{i}].{key} must be a string")
    from semantic_layer.tables import parse_table_identifiers

    return {"results": parse_table_identifiers(items)}


def sql_table_identifiers(req: Dict[str, Any]) -> Dict[str, Any]:
    _keys(req, ("sql", "dialect"), ("sql",))
    sql = req["sql"]
    if not isinstance(sql, str):
        raise MalformedError("'sql' must be a string")
    dialect = _opt_str(req, "dialect")
    from semantic_layer.tables import table_identifiers

    return {"tables": table_identifiers(sql, dialect)}


def embedding_compute(req: Dict[str, Any]) -> Dict[str, Any]:
    _keys(req, ("text",), ("text",))
    text = req["text"]
    if not isinstance(text, str) or not text:
        raise MalformedError("'text' must be a non-empty string")
    from . import embeddings

    out = embeddings.encode([text])
    return {"embedding": out["vectors"][0], "model": out["model"], "dimensions": out["dimensions"]}


def embedding_compute_bulk(req: Dict[str, Any]) -> Dict[str, Any]:
    _keys(req, ("texts",), ("texts",))
    texts = req["texts"]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise MalformedError("'texts' must be a list of strings")
    if not 1 <= len(texts) <= MAX_BULK_TEXTS:
        raise MalformedError(f"'texts' must hold 1 to {MAX_BULK_TEXTS} strings, got {len(texts)}")
    from . import embeddings

    out = embeddings.encode(texts)
    return {"embeddings": out["vectors"], "model": out["model"], "dimensions": out["dimensions"]}
