"""Table identifiers with sqlglot: the tables a SQL text references, and parsing table names.

``table_identifiers``: the tables a query reads (CTE names excluded), in order of appearance.
``parse_table_identifier``: one ``sql_table_name`` (e.g. from a LookML view) to
catalog/schema/name, or the reason it is not a plain table. The SQL text and the names are
held to the limits of ``semantic_layer.limits`` (length, nesting).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from . import limits
from .cancel import checkpoint
from .errors import RejectedError
from .expressions import check_dialect, parse_error_text, parse_sql
from .limits import SnippetLimit


def _position(table: exp.Table, fallback: int):
    meta = getattr(table.this, "meta", None) or {}
    start = meta.get("start")
    return (0, start) if isinstance(start, int) else (1, fallback)


def _walk(node: exp.Expression):
    """Pre-order walk, WITH clauses first: text order when tokens carry no positions.

    Iterative: a long UNION chain is a deep tree.
    """
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        children = []
        args = node.args
        for key in sorted(args, key=lambda k: k != "with"):
            value = args[key]
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, exp.Expression):
                    children.append(child)
        stack.extend(reversed(children))


def table_identifiers(sql: str, dialect: Optional[str] = None) -> List[Dict[str, Optional[str]]]:
    read = check_dialect(dialect) if dialect else None
    if not isinstance(sql, str) or not sql.strip():
        raise RejectedError("sql is empty")
    limits.ensure_recursion_limit()
    try:
        statements = parse_sql(sql, read, max_chars=limits.MAX_SQL_TEXT_CHARS)
    except SnippetLimit as exc:
        raise limits.LimitError(exc.describe("sql", sql)) from None
    except (ParseError, TokenError) as exc:
        raise RejectedError(f"cannot parse SQL: {parse_error_text(exc)}") from None

    found = []
    seq = 0
    for stmt in statements:
        checkpoint()
        cte_names = {cte.alias_or_name.lower() for cte in stmt.find_all(exp.CTE) if cte.alias_or_name}
        for table in (n for n in _walk(stmt) if isinstance(n, exp.Table)):
            seq += 1
            name = table.name
            if not name or not isinstance(table.this, exp.Identifier):
                continue  # table functions, UNNEST, ...
            catalog = table.catalog or None
            schema = table.db or None
            if not catalog and not schema and name.lower() in cte_names:
                continue
            found.append((_position(table, seq), catalog, schema, name))
    # order of first appearance in the text
    found.sort(key=lambda t: t[0])
    out: List[Dict[str, Optional[str]]] = []
    seen = set()
    for _, catalog, schema, name in found:
        qualified = ".".join(p for p in (catalog, schema, name) if p)
        if qualified.lower() in seen:
            continue
        seen.add(qualified.lower())
        out.append({"catalog": catalog, "schema": schema, "table": name, "qualified": qualified})
    return out


TABLE_REASONS = (
    "looker_template_unresolved",
    "derived_table_not_supported",
    "no_physical_table",
    "multiple_table_references",
    "unsupported_dialect",
    "parse_error",
)


def _failure(reason: str, detail: Optional[str] = None) -> Dict[str, Any]:
    return {
        "ok": False,
        "catalog": None,
        "schema": None,
        "name": None,
        "canonical_table": None,
        "reason": reason,
        "detail": detail,
    }


def parse_table_identifier(sql_table_name: str, dialect: str) -> Dict[str, Any]:
    """``{ok, catalog, schema, name, canonical_table, reason, detail}`` for one table name."""
    try:
        read = check_dialect(dialect)
    except RejectedError as exc:
        return _failure("unsupported_dialect", str(exc))
    text = sql_table_name.strip()
    if "${" in text or "@{" in text:
        return _failure("looker_template_unresolved", "a ${...} or @{...} template is left in the name")
    if not text:
        return _failure("no_physical_table", "the name is empty")
    if len(text) > limits.MAX_SNIPPET_CHARS:
        return _failure("parse_error", f"the name is {len(text):,} characters long; the limit is {limits.MAX_SNIPPET_CHARS:,}")
    try:
        return _parse_table_identifier(text, read)
    except RecursionError:
        return _failure("parse_error", f"the name nests too deeply to parse; the limit is {limits.MAX_DEPTH} levels")


def _parse_table_identifier(text: str, read: str) -> Dict[str, Any]:
    try:
        node = sqlglot.parse_one(text, read=read) if text.startswith("(") or text[:7].lower() in ("select ", "with ") else None
    except (ParseError, TokenError):
        node = None
    if isinstance(node, (exp.Query, exp.Subquery, exp.Paren)):
        return _failure("derived_table_not_supported", "a subquery is not a physical table")
    try:
        select = sqlglot.parse_one(f"SELECT * FROM {text}", read=read)
    except (ParseError, TokenError) as exc:
        return _failure("parse_error", parse_error_text(exc))
    source = select.args.get("from_")
    item = source.this if source is not None else None
    if isinstance(item, (exp.Subquery, exp.Values, exp.Lateral)) or (item is not None and item.find(exp.Query)):
        return _failure("derived_table_not_supported", "a subquery is not a physical table")
    extra = [k for k, v in select.args.items() if v and k not in ("expressions", "from_", "joins")]
    if extra:
        return _failure("parse_error", f"not a table name (found {', '.join(sorted(extra))})")
    tables = [t for t in select.find_all(exp.Table)]
    if select.args.get("joins") or len(tables) > 1:
        return _failure("multiple_table_references", "the name references several tables")
    if isinstance(item, exp.Table) and isinstance(item.this, exp.Dot):
        return _failure("parse_error", "a table name has at most three parts (catalog.schema.name)")
    if not isinstance(item, exp.Table) or not isinstance(item.this, exp.Identifier):
        return _failure("no_physical_table", "not a table (a function or an expression)")
    parts = [p for p in (item.catalog, item.db, item.name) if p]
    return {
        "ok": True,
        "catalog": item.catalog or None,
        "schema": item.db or None,
        "name": item.name,
        "canonical_table": ".".join(parts),
        "reason": None,
        "detail": None,
    }


def parse_table_identifiers(items: List[Dict[str, str]]) -> Dict[str, Dict[str, Any]]:
    """The batch: ``{key: result}`` for ``[{key, sql_table_name, dialect}]``."""
    limits.check_count(len(items), limits.MAX_TABLE_ITEMS, "items")
    limits.ensure_recursion_limit()
    out: Dict[str, Dict[str, Any]] = {}
    for item in items:
        checkpoint()
        out[item["key"]] = parse_table_identifier(item["sql_table_name"], item["dialect"])
    return out
