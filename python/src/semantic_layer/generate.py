"""Generate YAML sources from a schema description (no database access, no sqlglot)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from .errors import RejectedError

NUMERIC = re.compile(
    r"^(tiny|small|medium|big)?int(eger)?\d*|^(u)?int\d*|^(real|float\d*|double( precision)?|decimal|numeric|"
    r"number|money|smallmoney|serial|bigserial|smallserial)\b",
    re.IGNORECASE,
)
TIME = re.compile(r"^(timestamp\w*|datetime\w*|date|time(tz)?|smalldatetime|interval)\b", re.IGNORECASE)
BOOLEAN = re.compile(r"^(bool|boolean|bit)$", re.IGNORECASE)
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MalformedSchema(ValueError):
    """The schema description has the wrong shape."""


def _kind(sql_type: str) -> str:
    t = (sql_type or "").strip()
    if BOOLEAN.match(t):
        return "boolean"
    if TIME.match(t):
        return "time"
    if NUMERIC.match(t):
        return "number"
    return "string"


def _ident(name: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "x"
    if out[0].isdigit():
        out = "_" + out
    return out.lower()


def _col_expr(name: str) -> str:
    if IDENT.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _singular(name: str) -> str:
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith(("ses", "xes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss") and len(name) > 1:
        return name[:-1]
    return name


def _check_schema(schema: Any) -> List[Dict[str, Any]]:
    if not isinstance(schema, dict) or not isinstance(schema.get("tables"), list):
        raise MalformedSchema("schema must be an object with a 'tables' list")
    tables = schema["tables"]
    for i, t in enumerate(tables):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"]:
            raise MalformedSchema(f"schema.tables[{i}] must be an object with a 'name'")
        cols = t.get("columns")
        if not isinstance(cols, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in cols):
            raise MalformedSchema(f"schema.tables[{i}] ({t['name']}): columns must be a list of {{name, type}}")
        for c in cols:
            if c.get("type") is not None and not isinstance(c.get("type"), str):
                raise MalformedSchema(f"schema.tables[{i}] ({t['name']}): column type must be a string")
        pk = t.get("primary_key")
        if pk is not None and not isinstance(pk, str) and not (
            isinstance(pk, list) and all(isinstance(k, str) for k in pk)
        ):
            raise MalformedSchema(f"schema.tables[{i}] ({t['name']}): primary_key must be a string or a list")
        fks = t.get("foreign_keys") or []
        if not isinstance(fks, list):
            raise MalformedSchema(f"schema.tables[{i}] ({t['name']}): foreign_keys must be a list")
        for fk in fks:
            ref = fk.get("references") if isinstance(fk, dict) else None
            if (
                not isinstance(fk, dict)
                or not isinstance(fk.get("column"), str)
                or not isinstance(ref, dict)
                or not isinstance(ref.get("table"), str)
                or not isinstance(ref.get("column"), str)
            ):
                raise MalformedSchema(
                    f"schema.tables[{i}] ({t['name']}): foreign_keys items must be "
                    '{"column": str, "references": {"table": str, "column": str}}'
                )
    return tables


def generate_source_dicts(schema: Any) -> Dict[str, Dict[str, Any]]:
    tables = _check_schema(schema)
    if not tables:
        raise RejectedError("schema has no tables")

    # source names: the table name, or schema_table when two tables share a name
    names: List[str] = []
    plain = [_ident(t["name"]) for t in tables]
    for t, base in zip(tables, plain):
        name = base
        if plain.count(base) > 1 and t.get("schema"):
            name = _ident(f"{t['schema']}_{t['name']}")
        n = 2
        unique = name
        while unique in names:
            unique, n = f"{name}_{n}", n + 1
        names.append(unique)
    by_table: Dict[str, str] = {}
    for t, name in zip(tables, names):
        by_table.setdefault(t["name"].lower(), name)
        if t.get("schema"):
            by_table.setdefault(f"{t['schema']}.{t['name']}".lower(), name)

    out: Dict[str, Dict[str, Any]] = {}
    for t, name in zip(tables, names):
        pk_raw = t.get("primary_key")
        pk = [pk_raw] if isinstance(pk_raw, str) else list(pk_raw or [])
        fks = t.get("foreign_keys") or []
        keys = {c.lower() for c in pk} | {fk["column"].lower() for fk in fks}
        qualified = ".".join(p for p in (t.get("catalog"), t.get("schema"), t["name"]) if p)

        dimensions: List[Dict[str, Any]] = []
        sums: List[Dict[str, Any]] = []
        used: set = set()

        def field_name(col: str) -> str:
            base = _ident(col)
            fname, n = base, 2
            while fname in used:
                fname, n = f"{base}_{n}", n + 1
            used.add(fname)
            return fname

        for col in t["columns"]:
            kind = _kind(col.get("type") or "")
            cname = col["name"]
            if kind != "number" or cname.lower() in keys:
                fname = field_name(cname)
                dim: Dict[str, Any] = {"name": fname}
                if fname != cname:
                    dim["expr"] = _col_expr(cname)
                dim["type"] = kind
                dimensions.append(dim)
        count_name = f"{_singular(name)}_count"
        if count_name in used:
            count_name = field_name("row_count")
        else:
            used.add(count_name)
        measures: List[Dict[str, Any]] = [{"name": count_name, "agg": "count"}]
        for col in t["columns"]:
            cname = col["name"]
            if _kind(col.get("type") or "") == "number" and cname.lower() not in keys:
                sums.append({"name": field_name(f"total_{cname}"), "agg": "sum", "expr": _col_expr(cname)})
        measures.extend(sums)

        joins: List[Dict[str, Any]] = []
        for fk in fks:
            ref = fk["references"]
            target = by_table.get(ref["table"].lower())
            if target is None or target == name:
                continue  # the referenced table is not part of this description
            joins.append(
                {"to": target, "relationship": "many_to_one", "on": {fk["column"]: ref["column"]}}
            )

        src: Dict[str, Any] = {"name": name, "table": qualified}
        if pk:
            src["primary_key"] = pk[0] if len(pk) == 1 else pk
        if t.get("description"):
            src["description"] = str(t["description"])
        src["dimensions"] = dimensions
        src["measures"] = measures
        if joins:
            src["joins"] = joins
        out[name] = src
    return out


def generate_sources(schema: Any) -> Dict[str, str]:
    """Return {source name: YAML text} for a schema description."""
    import yaml

    return {
        name: yaml.safe_dump(src, sort_keys=False, default_flow_style=False, allow_unicode=True)
        for name, src in generate_source_dicts(schema).items()
    }
