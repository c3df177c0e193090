"""sqlglot helpers shared by validation and planning (imports sqlglot)."""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from .errors import RejectedError

if TYPE_CHECKING:  # pragma: no cover
    from .model import Project

COMMON_DIALECTS = ("duckdb", "postgres", "sqlite", "snowflake", "bigquery", "tsql")


def check_dialect(dialect: Optional[str]) -> str:
    name = (dialect or "").strip().lower()
    if not name:
        raise RejectedError(f"no SQL dialect given; common dialects: {', '.join(COMMON_DIALECTS)}")
    try:
        sqlglot.Dialect.get_or_raise(name)
    except Exception:
        raise RejectedError(
            f"unknown SQL dialect '{dialect}'; common dialects: {', '.join(COMMON_DIALECTS)} "
            "(any sqlglot dialect name is accepted)"
        ) from None
    return name


def parse_error_text(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        desc = first.get("description") or "syntax error"
        line, col = first.get("line"), first.get("col")
        if line is not None and col is not None:
            return f"{desc} (line {line}, column {col})"
        return desc
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text


def parse_expression(text: str, dialect: str) -> exp.Expression:
    """Parse one SQL scalar/boolean expression; raise ValueError with a one-line reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty expression")
    try:
        statements = sqlglot.parse(text, read=dialect)
    except (ParseError, TokenError) as exc:
        raise ValueError(parse_error_text(exc)) from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise ValueError("expected exactly one expression")
    node = statements[0]
    if isinstance(node, (exp.Query, exp.DDL, exp.DML, exp.Command)) or node.find(exp.Query) is not None:
        raise ValueError("statements and subqueries are not allowed here")
    if node.find(exp.Star) is not None:
        raise ValueError("'*' is not allowed here")
    return node


def check_project(project: "Project") -> List[str]:
    errors: List[str] = []
    try:
        dialect = check_dialect(project.dialect)
    except RejectedError as exc:
        return [f"ktx.yaml: {exc}"]
    for src in project.sources.values():
        try:
            exp.to_table(src.table, dialect=dialect)
        except Exception:
            errors.append(f"{src.file}: source '{src.name}': cannot parse table name '{src.table}'")
        for d in src.dimensions.values():
            try:
                node = parse_expression(d.expr, dialect)
            except ValueError as exc:
                errors.append(f"{src.file}: dimension '{src.name}.{d.name}': cannot parse expr '{d.expr}': {exc}")
                continue
            if node.find(exp.AggFunc) is not None:
                errors.append(
                    f"{src.file}: dimension '{src.name}.{d.name}': expr must not aggregate (found '{node.sql(dialect)}')"
                )
        for m in src.measures.values():
            if m.expr is None:
                continue
            try:
                node = parse_expression(m.expr, dialect)
            except ValueError as exc:
                errors.append(f"{src.file}: measure '{src.name}.{m.name}': cannot parse expr '{m.expr}': {exc}")
                continue
            if node.find(exp.AggFunc) is not None:
                errors.append(
                    f"{src.file}: measure '{src.name}.{m.name}': expr must be a row-level expression; "
                    f"the aggregation comes from agg: {m.agg}"
                )
    return errors


def qualify_columns(node: exp.Expression, alias: str) -> exp.Expression:
    """Copy `node`, qualifying unqualified column references with `alias`."""
    node = node.copy()
    for col in list(node.find_all(exp.Column)):
        if not col.table:
            col.set("table", exp.to_identifier(alias))
    return node


def quote_all(node: exp.Expression) -> exp.Expression:
    for ident in node.find_all(exp.Identifier):
        ident.set("quoted", True)
    return node
