"""Generate wire sources from scanned tables and links (KTX's generate-sources request).

No database access. A table becomes a source named after it: its grain is the primary key
(else the first column), its columns get a semantic type from the database type, a link adds
a join on both sides, numeric non-key columns get ``total_`` / ``avg_`` measures and a table
with a primary key a ``record_count``. The scan is held to the model's size limits
(``semantic_layer.limits``): sources the model would refuse are not generated.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from . import limits
from .cancel import checkpoint
from .errors import MalformedError, RejectedError

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BOOLEAN = re.compile(r"^(bool|boolean|bit)$")
_TIME = re.compile(r"^(date|datetime\d*|smalldatetime|datetimeoffset|time|timetz|timestamp\w*)$")
_NUMBER = re.compile(
    r"^(u?int\d*|integer|tinyint|smallint|mediumint|bigint|hugeint|uhugeint|serial\d*|smallserial|bigserial|"
    r"numeric|decimal|dec|number|float\d*|double|real|money|smallmoney|bignumeric)$"
)
_KEY_NAME = re.compile(r"(^id$|_id$|^uuid$|_uuid$|_key$|_pk$|_fk$)", re.IGNORECASE)
_RELATIONSHIPS = ("many_to_one", "one_to_many", "one_to_one")
_INVERSE = {"many_to_one": "one_to_many", "one_to_many": "many_to_one", "one_to_one": "one_to_one"}

TABLE_KEYS = ("name", "catalog", "db", "comment", "columns")
COLUMN_KEYS = ("name", "type", "primary_key", "nullable", "comment")
LINK_KEYS = ("from_table", "from_column", "to_table", "to_column", "relationship_type")


def column_type(db_type: str) -> str:
    """string | number | time | boolean for a database type name such as ``numeric(10,2)``."""
    base = re.sub(r"\(.*$", "", (db_type or "").strip().lower())
    base = base.replace(" without time zone", "").replace(" with time zone", "").strip()
    first = base.split(" ")[0] if base else ""
    if base == "double precision":
        return "number"
    if _BOOLEAN.match(first):
        return "boolean"
    if _TIME.match(first):
        return "time"
    if _NUMBER.match(first):
        return "number"
    return "string"


def _check(item: Any, keys: Tuple[str, ...], required: Tuple[str, ...], what: str) -> Dict[str, Any]:
    if not isinstance(item, dict):
        raise MalformedError(f"{what} must be an object")
    for key in item:
        if key not in keys:
            raise MalformedError(f"unknown key '{key}' in {what}; allowed: {', '.join(keys)}")
    for key in required:
        if not isinstance(item.get(key), str) or not item[key]:
            raise MalformedError(f"{what} needs '{key}' (a non-empty string)")
    for key in keys:
        if key not in required and key != "columns" and item.get(key) is not None:
            expected = bool if key in ("primary_key", "nullable") else str
            if not isinstance(item[key], expected):
                raise MalformedError(f"'{key}' of {what} must be a {'boolean' if expected is bool else 'string'}")
    return item


def _quote(name: str, dialect: str) -> str:
    if IDENT.match(name):
        return name
    from sqlglot import exp

    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def _measure_name(prefix: str, column: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_]+", "_", column).strip("_") or "column"
    return f"{prefix}_{base}"


def generate_sources(tables: Any, links: Any, dialect: Optional[str] = None) -> Dict[str, Any]:
    if not isinstance(tables, list):
        raise MalformedError("'tables' must be a list of {name, columns} objects")
    if links is None:
        links = []
    if not isinstance(links, list):
        raise MalformedError("'links' must be a list of link objects")
    write = (dialect or "postgres").lower()
    limits.check_count(len(tables), limits.MAX_SOURCES, "tables")
    limits.check_count(len(links), limits.MAX_SNIPPETS, "links")
    total = sum(len(t["columns"]) for t in tables if isinstance(t, dict) and isinstance(t.get("columns"), list))
    limits.check_count(total, limits.MAX_COLUMNS, "columns", "the scan")
    for i, t in enumerate(tables):
        checkpoint()
        _check(t, TABLE_KEYS, ("name",), f"tables[{i}]")
        cols = t.get("columns")
        if not isinstance(cols, list):
            raise MalformedError(f"tables[{i}] ({t['name']}): 'columns' must be a list")
        limits.check_count(len(cols), limits.MAX_COLUMNS_PER_SOURCE, "columns", f"table '{limits.clip(t['name'], 40)}'")
        for j, c in enumerate(cols):
            _check(c, COLUMN_KEYS, ("name", "type"), f"tables[{i}].columns[{j}]")
    for i, link in enumerate(links):
        _check(link, LINK_KEYS, LINK_KEYS, f"links[{i}]")

    by_name: Dict[str, Dict[str, Any]] = {}
    for t in tables:
        name = t["name"]
        if not IDENT.match(name):
            raise RejectedError(f"cannot generate a source for table '{name}': a source name must be an identifier")
        if name in by_name:
            raise RejectedError(f"cannot generate two sources named '{name}' (two tables share the name)")
        if not t["columns"]:
            raise RejectedError(f"cannot generate a source for table '{name}': it has no columns")
        for c in t["columns"]:
            if "." in c["name"]:
                raise RejectedError(f"cannot generate a column '{c['name']}' of '{name}': a column name has no '.'")
        by_name[name] = t

    # a table's own links first, then the inverse of the links pointing at it
    joins: Dict[str, List[Dict[str, str]]] = {name: [] for name in by_name}
    inverse: Dict[str, List[Dict[str, str]]] = {name: [] for name in by_name}
    link_columns: Dict[str, set] = {name: set() for name in by_name}
    for i, link in enumerate(links):
        relationship = link["relationship_type"].strip().lower()
        if relationship not in _RELATIONSHIPS:
            raise RejectedError(
                f"links[{i}]: unknown relationship_type '{link['relationship_type']}'; known: {', '.join(_RELATIONSHIPS)}"
            )
        a, b = link["from_table"], link["to_table"]
        if a not in by_name or b not in by_name or a == b:
            continue  # a table outside the scan, or a self link (not expressible as a join)
        for table, column in ((a, link["from_column"]), (b, link["to_column"])):
            if column not in {c["name"] for c in by_name[table]["columns"]}:
                raise RejectedError(f"links[{i}]: table '{table}' has no column '{column}'")
            link_columns[table].add(column)
        fc, tc = _quote(link["from_column"], write), _quote(link["to_column"], write)
        joins[a].append({"to": b, "on": f"{fc} = {b}.{tc}", "relationship": relationship})
        inverse[b].append({"to": a, "on": f"{tc} = {a}.{fc}", "relationship": _INVERSE[relationship]})
    for name in by_name:  # one join per target (the model ignores a second one)
        seen: set = set()
        joins[name] = [j for j in joins[name] + inverse[name] if not (j["to"] in seen or seen.add(j["to"]))]

    sources: List[Dict[str, Any]] = []
    for name, t in by_name.items():
        checkpoint()
        cols = t["columns"]
        pk = [c["name"] for c in cols if c.get("primary_key")]
        columns: List[Dict[str, Any]] = []
        for c in cols:
            ctype = column_type(c["type"])
            col: Dict[str, Any] = {"name": c["name"], "type": ctype}
            if ctype == "time":
                col["role"] = "time"
            if c.get("comment"):
                col["description"] = c["comment"]
            columns.append(col)
        measures: List[Dict[str, Any]] = []
        if pk:
            measures.append(
                {"name": "record_count", "expr": f"count({_quote(pk[0], write)})", "description": f"Number of {name} records"}
            )
        used = {m["name"] for m in measures}
        for c in cols:
            cname = c["name"]
            if column_type(c["type"]) != "number" or cname in pk or cname in link_columns[name] or _KEY_NAME.search(cname):
                continue
            ref = _quote(cname, write)
            suffix = f" ({c['comment']})" if c.get("comment") else ""
            for prefix, func, what in (("total", "sum", "Sum"), ("avg", "avg", "Average")):
                mname = _measure_name(prefix, cname)
                if mname in used:
                    continue
                used.add(mname)
                measures.append({"name": mname, "expr": f"{func}({ref})", "description": f"{what} of {cname}{suffix}"})
        source: Dict[str, Any] = {"name": name}
        if t.get("comment"):
            source["description"] = t["comment"]
        source["table"] = ".".join(p for p in (t.get("catalog"), t.get("db"), name) if p)
        source["grain"] = pk or [cols[0]["name"]]
        source["columns"] = columns
        source["joins"] = joins[name]
        source["measures"] = measures
        sources.append(source)
    return {"sources": sources, "source_count": len(sources)}
