"""List the tables a SQL text references (sqlglot), excluding CTE names."""

from __future__ import annotations

from typing import Dict, List, Optional

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from .errors import RejectedError
from .expressions import check_dialect, parse_error_text


def _position(table: exp.Table, fallback: int):
    meta = getattr(table.this, "meta", None) or {}
    start = meta.get("start")
    return (0, start) if isinstance(start, int) else (1, fallback)


def _walk(node: exp.Expression):
    """Pre-order walk, WITH clauses first: text order when tokens carry no positions."""
    yield node
    args = node.args
    keys = sorted(args, key=lambda k: k != "with")
    for key in keys:
        value = args[key]
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, exp.Expression):
                yield from _walk(child)


def table_identifiers(sql: str, dialect: Optional[str] = None) -> List[Dict[str, Optional[str]]]:
    read = check_dialect(dialect) if dialect else None
    if not isinstance(sql, str) or not sql.strip():
        raise RejectedError("sql is empty")
    try:
        statements = [s for s in sqlglot.parse(sql, read=read) if s is not None]
    except (ParseError, TokenError) as exc:
        raise RejectedError(f"cannot parse SQL: {parse_error_text(exc)}") from None

    found = []
    seq = 0
    for stmt in statements:
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
