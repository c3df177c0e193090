"""sqlglot helpers shared by the model, the planner and the table parsers (imports sqlglot).

Dialect names, parsing one SQL snippet (an expression, a predicate, a SELECT) within the
snippet limits of ``semantic_layer.limits`` (length and nesting, measured on the tokens before
the recursive parser runs), the nesting of a built tree, time truncation per dialect, quoting
every identifier, and rendering a snippet for display.
"""

from __future__ import annotations

from typing import Optional

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from .errors import RejectedError
from .limits import MAX_DEPTH, MAX_SNIPPET_CHARS, too_deep, too_long

COMMON_DIALECTS = ("duckdb", "postgres", "sqlite", "snowflake", "bigquery", "tsql")
GRANULARITIES = ("day", "week", "month", "quarter", "year")
DEFAULT_DIALECT = "postgres"  # KTX's default


def check_dialect(dialect: Optional[str]) -> str:
    """The normalised sqlglot dialect name; RejectedError for an unknown one."""
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
    """One line out of a sqlglot ParseError / TokenError."""
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


_OPENERS = frozenset((TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE, TokenType.CASE))
_CLOSERS = frozenset((TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE, TokenType.END))
# the tree nodes that nest (a bracket, a function call, CASE, a subquery)
_NESTING = (exp.Paren, exp.Func, exp.Subquery, exp.Tuple, exp.Bracket, exp.Window)


def nesting(tokens) -> int:
    """The deepest nesting of parentheses, brackets, braces and CASE ... END in the tokens."""
    depth = deepest = 0
    for token in tokens:
        kind = token.token_type
        if kind in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
        elif kind in _CLOSERS and depth:
            depth -= 1
    return deepest


def tree_nesting(*nodes: Optional[exp.Expression]) -> int:
    """The deepest nesting of brackets, calls, CASE and subqueries in the trees (iterative)."""
    deepest = 0
    stack = [(n, 0) for n in nodes if n is not None]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, _NESTING):
            depth += 1
            if depth > deepest:
                deepest = depth
        for child in node.iter_expressions():
            stack.append((child, depth))
    return deepest


def tree_size(*nodes: Optional[exp.Expression]) -> int:
    """The number of nodes of the trees (iterative): what copying them costs."""
    size = 0
    stack = [n for n in nodes if n is not None]
    while stack:
        node = stack.pop()
        size += 1
        stack.extend(node.iter_expressions())
    return size


def parse_sql(text: str, dialect: Optional[str], max_chars: int = MAX_SNIPPET_CHARS) -> list:
    """The statements of a SQL text (None entries dropped) within the snippet limits.

    SnippetLimit (a ValueError) when the text is longer than ``max_chars`` or nests deeper
    than ``MAX_DEPTH``; ParseError / TokenError as sqlglot raises them.
    """
    error = too_long(text, max_chars)
    if error is not None:
        raise error
    read = sqlglot.Dialect.get_or_raise(dialect)
    tokens = read.tokenize(text)
    depth = nesting(tokens)
    if depth > MAX_DEPTH:
        raise too_deep(depth)
    try:
        return [s for s in read.parser().parse(tokens, text) if s is not None]
    except RecursionError:  # unbracketed chains (NOT NOT ...) the count does not see
        raise too_deep(None) from None


def _parse_one(text: str, dialect: str) -> exp.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty")
    try:
        statements = parse_sql(text, dialect)
    except (ParseError, TokenError) as exc:
        raise ValueError(parse_error_text(exc)) from None
    if len(statements) != 1:
        raise ValueError("expected exactly one expression")
    return statements[0]


def parse_expression(text: str, dialect: str, allow_count_star: bool = False) -> exp.Expression:
    """Parse one scalar or boolean SQL expression; ValueError with a one-line reason.

    Statements, subqueries, bind placeholders and ``*`` are refused (``count(*)`` is allowed
    when ``allow_count_star``).
    """
    node = _parse_one(text, dialect)
    if isinstance(node, (exp.Query, exp.DDL, exp.DML, exp.Command)) or node.find(exp.Query) is not None:
        raise ValueError("statements and subqueries are not allowed here")
    if node.find(exp.Placeholder) is not None:
        raise ValueError("bind parameters are not allowed here")
    for star in node.find_all(exp.Star):
        if not (allow_count_star and isinstance(star.parent, exp.Count)):
            raise ValueError("'*' is not allowed here")
    return node


def parse_select(text: str, dialect: str) -> exp.Query:
    """Parse the SELECT of a `sql` source; ValueError with a one-line reason."""
    node = _parse_one(text, dialect)
    if not isinstance(node, exp.Query):
        raise ValueError("expected a SELECT statement")
    return node


def parse_table(text: str, dialect: str) -> exp.Table:
    """Parse a (possibly qualified) table name such as ``analytics.public.orders``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty table name")
    error = too_long(text)
    if error is not None:
        raise error
    try:
        table = exp.to_table(text, dialect=dialect)
    except RecursionError:
        raise too_deep(None) from None
    except (ParseError, TokenError) as exc:
        raise ValueError(parse_error_text(exc)) from None
    except Exception as exc:  # sqlglot raises assorted errors for odd input
        raise ValueError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier) or table.args.get("alias"):
        raise ValueError("not a table name")
    return table


def is_predicate(node: exp.Expression) -> bool:
    """True when the expression is (syntactically) a boolean condition."""
    node = node.unnest()
    return isinstance(node, (exp.Predicate, exp.Connector, exp.Not, exp.Boolean, exp.Is))


def and_all(*nodes: Optional[exp.Expression]) -> Optional[exp.Expression]:
    """AND of the given predicates (None ignored), each parenthesised; None when empty."""
    parts = [n for n in nodes if n is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return exp.and_(*[exp.Paren(this=p.copy()) if not isinstance(p, exp.Paren) else p.copy() for p in parts])


def truncate_time(node: exp.Expression, granularity: str, dialect: str) -> exp.Expression:
    """``node`` truncated to the start of its day/week/month/quarter/year in ``dialect``.

    Weeks start on Monday (ISO). SQLite has no DATE_TRUNC: its date() modifiers give the
    'YYYY-MM-DD' of the period's first day.
    """
    if dialect == "sqlite":
        def date(*args: exp.Expression) -> exp.Expression:
            return exp.Anonymous(this="date", expressions=list(args))

        if granularity == "day":
            return date(node)
        if granularity == "week":
            return date(node, exp.Literal.string("-6 days"), exp.Literal.string("weekday 1"))
        if granularity == "month":
            return date(node, exp.Literal.string("start of month"))
        if granularity == "year":
            return date(node, exp.Literal.string("start of year"))
        # quarter: the month's first day, minus (month - 1) % 3 months
        month = exp.Cast(
            this=exp.Anonymous(this="strftime", expressions=[exp.Literal.string("%m"), node.copy()]),
            to=exp.DataType.build("INTEGER"),
        )
        back = exp.Mod(this=exp.Paren(this=exp.Sub(this=month, expression=exp.Literal.number(1))), expression=exp.Literal.number(3))
        modifier = exp.DPipe(
            this=exp.DPipe(this=exp.Literal.string("-"), expression=exp.Paren(this=back)),
            expression=exp.Literal.string(" months"),
        )
        return date(node, exp.Literal.string("start of month"), modifier)
    unit: exp.Expression
    if granularity == "week" and dialect == "bigquery":
        unit = exp.WeekStart(this=exp.var("MONDAY"))
    elif granularity == "week" and dialect == "tsql":
        unit = exp.var("ISO_WEEK")
    else:
        unit = exp.var(granularity.upper())
    return exp.TimestampTrunc(this=node, unit=unit)


def quote_all(node: exp.Expression) -> exp.Expression:
    """Quote every identifier of the tree (in place)."""
    for ident in node.find_all(exp.Identifier):
        ident.set("quoted", True)
    return node


def display(node: exp.Expression, dialect: str) -> str:
    """A snippet for humans: the source dialect, lower-case function names, no added quotes."""
    try:
        return node.sql(dialect=dialect, normalize_functions="lower")
    except Exception:  # pragma: no cover - display only
        return node.sql()
