"""The semantic model: the wire ``sources[]`` as a frozen, checked model.

A source on the wire is KTX's resolved SourceDefinition (name, table|sql, grain, columns with
type/role/expr, joins with ``on`` as a SQL string, measures whose ``expr`` holds the aggregate
plus an optional ``filter``, segments). ``build_model`` turns the list into a ``Model``: every
SQL snippet parsed once in the source dialect, every column reference resolved, every measure
reduced to a ``MeasureForm`` (its aggregate calls and the expression combining them), the join
graph built. Problems are collected, never raised: ``Model.errors`` (the model cannot be
queried) and ``Model.warnings`` (unknown keys, ignored features). Each error belongs to the source it
was found in (or to none), so that a query is refused only for the errors of the sources it uses.
A model over a size limit of ``semantic_layer.limits`` is one error of no source and is not
built at all; a snippet over a snippet limit, or a measure nesting too deep once the measures
it uses are inlined, is an error of its source. The build checks for cancellation
(``semantic_layer.cancel``) at every source, column, measure, segment and join. ``get_model``
is the same with a small LRU cache, so that a long-lived daemon parses a model once.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from sqlglot import exp

from . import limits
from .cancel import checkpoint
from .errors import MalformedError, RejectedError
from .expressions import and_all, display, parse_expression, parse_select, parse_table, tree_nesting, tree_size
from .limits import MAX_DEPTH, MAX_MEASURE_NODES, MAX_MODEL_MEASURE_NODES, NodeBudget, NodeLimit, SnippetLimit, clip

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
COLUMN_TYPES = ("string", "number", "time", "boolean")
COLUMN_ROLES = ("time", "default")
VISIBILITIES = ("public", "internal", "hidden")
RELATIONSHIPS = ("many_to_one", "one_to_many", "one_to_one")
INVERSE_RELATIONSHIP = {"many_to_one": "one_to_many", "one_to_many": "many_to_one", "one_to_one": "one_to_one"}
AGGREGATES = ("sum", "count", "count_distinct", "avg", "min", "max")
DESCRIPTION_PRIORITY = ("user", "ai", "dbt", "db")

SOURCE_KEYS = (
    "name", "description", "descriptions", "table", "sql", "grain", "columns", "joins", "measures",
    "segments", "default_time_dimension", "tags", "freshness",
)
COLUMN_KEYS = (
    "name", "type", "role", "visibility", "description", "descriptions", "expr", "natural_granularity",
    "constraints", "enum_values", "tests",
)
JOIN_KEYS = ("to", "on", "relationship", "alias", "source")
JOIN_PROVENANCES = ("formal", "inferred", "manual")  # a join's ``source``: KTX's catalogue says how it was found
MEASURE_KEYS = ("name", "expr", "filter", "segments", "description")
SEGMENT_KEYS = ("name", "expr", "description")

_AGG_CLASSES = {exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}
SHOWN_ERRORS = 10  # a refused query names the first errors of the model, validate lists all


# --------------------------------------------------------------------------- the frozen model


@dataclass(frozen=True, eq=False)
class Column:
    name: str
    type: str
    role: str
    visibility: str
    expr: Optional[str]
    description: Optional[str]
    node: exp.Expression  # the row-level SQL, its physical columns qualified with the source name
    size: int = 3  # the nodes of ``node``: what a reference to the column copies

    def sql_node(self) -> exp.Expression:
        """A fresh copy of the column's row-level expression (parenthesised when computed)."""
        return self.node.copy()


@dataclass(frozen=True, eq=False)
class AggCall:
    """One aggregate call: ``func`` over the row-level ``arg``, counting only rows matching ``filter``."""

    func: str
    arg: Optional[exp.Expression]  # None for count(*)
    filter: Optional[exp.Expression] = None

    def filtered(self, predicate: Optional[exp.Expression]) -> "AggCall":
        if predicate is None:
            return self
        return AggCall(self.func, self.arg, and_all(self.filter, predicate))


@dataclass(frozen=True, eq=False)
class MeasureForm:
    """A measure reduced to aggregate calls and the expression that combines them.

    ``template`` holds ``exp.Placeholder(this="a<i>")`` where ``calls[i]`` goes.
    """

    template: exp.Expression
    calls: Tuple[AggCall, ...]

    def filtered(self, predicate: Optional[exp.Expression]) -> "MeasureForm":
        if predicate is None:
            return self
        return MeasureForm(self.template, tuple(c.filtered(predicate) for c in self.calls))

    @property
    def is_count(self) -> bool:
        """A bare count: NULL (no rows) means 0."""
        return isinstance(self.template, exp.Placeholder) and self.calls[0].func in ("count", "count_distinct")


@dataclass(frozen=True, eq=False)
class Measure:
    name: str
    expr: str
    filter: Optional[str]
    segments: Tuple[str, ...]
    description: Optional[str]
    form: MeasureForm
    derived: bool
    source: str
    dialect: str  # the dialect ``expr`` is written in
    size: int = 1  # the nodes of ``form``: what inlining the measure copies

    @cached_property
    def display(self) -> str:
        """The expr with source-qualified columns, for the response's ``columns``.

        Made on first use (a query naming the measure), not for every measure of the model:
        a fifth of a large model's build time.
        """
        node = parse_expression(self.expr, self.dialect, allow_count_star=True)
        return _display_qualified(node, self.source, self.dialect)


@dataclass(frozen=True, eq=False)
class Segment:
    name: str
    expr: str
    description: Optional[str]
    node: exp.Expression  # row-level predicate


@dataclass(frozen=True, eq=False)
class Join:
    to: str
    on: str
    relationship: str
    alias: Optional[str]
    pairs: Tuple[Tuple[str, str], ...]  # (this source's column, the target's column)


@dataclass(frozen=True, eq=False)
class Source:
    name: str
    table: Optional[str]
    sql: Optional[str]
    grain: Tuple[str, ...]
    description: Optional[str]
    columns: Dict[str, Column]
    measures: Dict[str, Measure]
    segments: Dict[str, Segment]
    joins: Tuple[Join, ...]
    relation: exp.Expression  # exp.Table or the parsed SELECT of a sql source

    def from_item(self) -> exp.Expression:
        """The FROM item, aliased with the source name."""
        alias = exp.TableAlias(this=exp.to_identifier(self.name))
        if isinstance(self.relation, exp.Table):
            table = self.relation.copy()
            table.set("alias", alias)
            return table
        return exp.Subquery(this=self.relation.copy(), alias=alias)


@dataclass(frozen=True, eq=False)
class Edge:
    """A join step seen from ``parent`` to ``child``."""

    parent: str
    child: str
    relationship: str
    pairs: Tuple[Tuple[str, str], ...]  # (parent column, child column)


@dataclass(frozen=True, eq=False)
class Model:
    dialect: str  # the dialect the snippets are written in
    sources: Dict[str, Source]
    errors: Tuple[str, ...]
    warnings: Tuple[Tuple[Optional[str], str], ...]  # (source name or None, message)
    graph: Dict[str, Dict[str, Edge]] = field(default_factory=dict)
    # source name (None: no one source) -> its errors
    errors_of: Dict[Optional[str], Tuple[str, ...]] = field(default_factory=dict)

    def check_usable(self, sources: Optional[Sequence[str]] = None) -> None:
        """RejectedError listing the errors that stop a query using ``sources`` (all of them
        when None); the errors of no one source always count."""
        if sources is None:
            found = list(self.errors)
        else:
            found = list(self.errors_of.get(None, ()))
            for name in dict.fromkeys(sources):
                found.extend(self.errors_of.get(name, ()))
        if found:
            shown = "; ".join(found[:SHOWN_ERRORS])
            if len(found) > SHOWN_ERRORS:
                shown += f"; and {len(found) - SHOWN_ERRORS:,} more (ktx sl validate lists them all)"
            raise RejectedError(
                f"invalid semantic model ({len(found):,} error{'s' if len(found) > 1 else ''}): " + shown
            )


def known(names: Sequence[str]) -> str:
    names = list(names)
    return ", ".join(names) if names else "(none)"


def resolve_description(description: Any, descriptions: Any) -> Optional[str]:
    """``description`` if set, else the first of descriptions user, ai, dbt, db, then any other."""
    if isinstance(description, str) and description:
        return description
    if isinstance(descriptions, dict):
        for key in DESCRIPTION_PRIORITY:
            text = descriptions.get(key)
            if isinstance(text, str) and text:
                return text
        for text in descriptions.values():
            if isinstance(text, str) and text:
                return text
    return None


# --------------------------------------------------------------------------- measure analysis


class RefError(Exception):
    """A reference inside a snippet that cannot be resolved (message: one line)."""


def _to_call(node: exp.AggFunc, column_of: Callable[[exp.Column], exp.Expression]) -> AggCall:
    if isinstance(node, exp.Count):
        this = node.this
        if isinstance(this, exp.Star):
            return AggCall("count", None)
        if isinstance(this, exp.Distinct):
            args = this.expressions
            if len(args) != 1:
                raise RefError("count(distinct ...) takes exactly one argument")
            func, arg = "count_distinct", args[0]
        else:
            func, arg = "count", this
    else:
        func = next((name for cls, name in _AGG_CLASSES.items() if type(node) is cls), None)
        if func is None:
            raise RefError(
                f"unsupported aggregate '{node.sql()}'; supported: sum, count(*), count(x), "
                "count(distinct x), avg, min, max"
            )
        if node.expressions:
            raise RefError(f"'{node.sql()}' takes exactly one argument")
        arg = node.this
    if arg is None:
        raise RefError(f"'{node.sql()}' has no argument")
    if arg.find(exp.AggFunc) is not None or isinstance(arg, exp.AggFunc):
        raise RefError(f"nested aggregate in '{node.sql()}'")
    if arg.find(exp.Window) is not None:
        raise RefError(f"window function in '{node.sql()}'")
    return AggCall(func, substitute_columns(arg, column_of))


def substitute_columns(node: exp.Expression, column_of: Callable[[exp.Column], exp.Expression]) -> exp.Expression:
    """Copy of ``node`` with each column reference replaced by ``column_of(column)``."""

    def fn(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column):
            return column_of(n)
        return n

    if isinstance(node, exp.Column):
        return column_of(node)
    return node.transform(fn)


def analyse_measure(
    node: exp.Expression,
    column_of: Callable[[exp.Column], exp.Expression],
    measure_of: Callable[[exp.Column], MeasureForm],
) -> MeasureForm:
    """Reduce a measure expression to a MeasureForm.

    Inside an aggregate, identifiers are columns (``column_of``); outside, they are other
    measures (``measure_of``), inlined. RefError when there is no aggregate at all.
    """
    calls: List[AggCall] = []

    def inline(form: MeasureForm) -> exp.Expression:
        offset = len(calls)
        calls.extend(form.calls)

        def renumber(n: exp.Expression) -> exp.Expression:
            if isinstance(n, exp.Placeholder):
                return exp.Placeholder(this=f"a{int(n.name[1:]) + offset}")
            return n

        template = form.template.transform(renumber)
        return template if isinstance(template, exp.Placeholder) else exp.Paren(this=template)

    def fn(n: exp.Expression) -> exp.Expression:
        if isinstance(n, (exp.Window, exp.Filter)):
            raise RefError(f"window functions and FILTER clauses are not supported ('{n.sql()}')")
        if isinstance(n, exp.AggFunc):
            calls.append(_to_call(n, column_of))
            return exp.Placeholder(this=f"a{len(calls) - 1}")
        if isinstance(n, exp.Column):
            return inline(measure_of(n))
        return n

    template = fn(node) if isinstance(node, (exp.AggFunc, exp.Column, exp.Window, exp.Filter)) else node.transform(fn)
    if not calls:
        raise RefError("no aggregate (sum, count, count(distinct), avg, min, max) and no measure reference")
    return MeasureForm(template, tuple(calls))


# --------------------------------------------------------------------------- building


class _Builder:
    def __init__(self, raw_sources: List[Any], dialect: str) -> None:
        self.raw = raw_sources
        self.dialect = dialect
        self.errors: List[str] = []
        self.errors_of: Dict[Optional[str], List[str]] = {}
        self.warnings: List[Tuple[Optional[str], str]] = []
        self.current: Optional[str] = None  # the source being built
        self.seen: set = set()  # every error and warning reported so far
        self.measure_nodes = 0  # the nodes of every measure built so far (MAX_MODEL_MEASURE_NODES)

    # ---------------------------------------------------------------- helpers
    def error(self, where: str, message: str) -> None:
        text = f"{where}: {message}"
        if text in self.seen:  # each problem is reported once
            return
        self.seen.add(text)
        self.errors.append(text)
        self.errors_of.setdefault(self.current, []).append(text)

    def warn(self, source: Optional[str], where: str, message: str) -> None:
        text = f"{where}: {message}"
        if text in self.seen:
            return
        self.seen.add(text)
        self.warnings.append((source, text))

    def unknown_keys(self, data: Dict[str, Any], allowed: Tuple[str, ...], source: Optional[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                self.warn(source, where, f"unknown key '{key}' (ignored); known keys: {', '.join(allowed)}")

    def opt_str(self, data: Dict[str, Any], key: str, where: str) -> Optional[str]:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(where, f"'{key}' must be a string")
            return None
        return value

    def req_str(self, data: Dict[str, Any], key: str, where: str) -> Optional[str]:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            self.error(where, f"'{key}' is required")
            return None
        if not isinstance(value, str):
            self.error(where, f"'{key}' must be a string")
            return None
        return value

    def list_of_objects(self, data: Dict[str, Any], key: str, where: str) -> List[Dict[str, Any]]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.error(where, f"'{key}' must be a list of objects")
            return []
        return value

    def parse(self, text: str, where: str, what: str, allow_count_star: bool = False) -> Optional[exp.Expression]:
        try:
            return parse_expression(text, self.dialect, allow_count_star=allow_count_star)
        except SnippetLimit as exc:
            self.error(where, exc.describe(what, text))
            return None
        except ValueError as exc:
            self.error(where, f"cannot parse {what} '{clip(text, 200)}' ({self.dialect}): {exc}")
            return None

    # ---------------------------------------------------------------- columns of a source
    @staticmethod
    def lookup(columns: Dict[str, Any], name: str, quoted: bool) -> Optional[Any]:
        if name in columns:
            return columns[name]
        if not quoted:
            folded = [c for c in columns if c.lower() == name.lower()]
            if len(folded) == 1:
                return columns[folded[0]]
        return None

    def own_column_resolver(self, src_name: str, columns: Dict[str, Column]):
        """Resolve a column reference of a source's own snippet (bare, or qualified by its name)."""

        def column_of(col: exp.Column) -> exp.Expression:
            if col.args.get("db") is not None or col.args.get("catalog") is not None or (
                col.table and col.table != src_name
            ):
                raise RefError(
                    f"'{col.sql()}' is not a column of {src_name}; a source's snippets use its own columns"
                )
            found = self.lookup(columns, col.name, bool(col.this.args.get("quoted")))
            if found is None:
                raise RefError(f"unknown column '{col.name}'; known columns of {src_name}: {known(list(columns))}")
            return found.sql_node()

        return column_of

    def build_column(self, src_name: str, item: Dict[str, Any], where_src: str) -> Optional[Column]:
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            self.error(where_src, "a column has no 'name'")
            return None
        where = f"{where_src}: column '{name}'"
        if "." in name:
            self.error(where, "a column name must be unqualified (no '.')")
        self.unknown_keys(item, COLUMN_KEYS, src_name, where)
        ctype = item.get("type")
        if ctype is None:
            self.error(where, f"'type' is required; known types: {', '.join(COLUMN_TYPES)}")
            ctype = "string"
        elif ctype not in COLUMN_TYPES:
            self.error(where, f"unknown type {ctype!r}; known types: {', '.join(COLUMN_TYPES)}")
            ctype = "string"
        role = item.get("role") or "default"
        if role not in COLUMN_ROLES:
            self.error(where, f"unknown role {role!r}; known roles: {', '.join(COLUMN_ROLES)}")
            role = "default"
        visibility = item.get("visibility") or "public"
        if visibility not in VISIBILITIES:
            self.error(where, f"unknown visibility {visibility!r}; known: {', '.join(VISIBILITIES)}")
            visibility = "public"
        expr_text = self.opt_str(item, "expr", where)
        node: exp.Expression = exp.column(name, table=src_name)
        if expr_text is not None and expr_text.strip():
            parsed = self.parse(expr_text, where, "expr")
            if parsed is not None:
                if parsed.find(exp.AggFunc) is not None or isinstance(parsed, exp.AggFunc):
                    self.error(where, f"expr '{expr_text}' must not aggregate (aggregates belong in measures)")
                elif parsed.find(exp.Window) is not None:
                    self.error(where, f"expr '{expr_text}' must not use window functions")
                else:
                    bad = [
                        c.sql()
                        for c in parsed.find_all(exp.Column)
                        if c.args.get("db") is not None or (c.table and c.table != src_name)
                    ]
                    if bad:
                        self.error(
                            where,
                            f"expr '{expr_text}' references '{bad[0]}'; a column expr uses this source's "
                            "physical columns only",
                        )
                    else:
                        qualified = parsed.copy()
                        for c in list(qualified.find_all(exp.Column)):
                            c.set("table", exp.to_identifier(src_name))
                        if isinstance(qualified, exp.Column):
                            node = qualified
                        else:
                            node = exp.Paren(this=qualified)
        else:
            expr_text = None
        return Column(
            name=name,
            type=ctype,
            role=role,
            visibility=visibility,
            expr=expr_text,
            description=resolve_description(item.get("description"), item.get("descriptions")),
            node=node,
            size=tree_size(node),
        )

    # ---------------------------------------------------------------- the build
    def build(self) -> Model:
        drafts: Dict[str, Dict[str, Any]] = {}
        order: List[str] = []
        for i, raw in enumerate(self.raw):
            checkpoint()
            label = f"sources[{i}]"
            if not isinstance(raw, dict):
                self.error(label, "a source must be an object")
                continue
            name = raw.get("name")
            self.current = None
            if not isinstance(name, str) or not name.strip():
                self.error(label, "'name' is required")
                continue
            if not NAME_RE.match(name):
                # an error of no one source: every query is refused naming it, and nothing
                # (a table alias, a CTE name, a path) is ever made of the name
                self.current = None
                self.error(f"source '{clip(name, 60)}'", "the name must be an identifier (letters, digits, _)")
                continue
            self.current = name if name not in drafts else None
            where = f"source '{name}'"
            if name in drafts:
                self.error(where, f"duplicate source name (sources[{drafts[name]['index']}] and {label})")
                continue
            drafts[name] = {"index": i, "raw": raw, "where": where}
            order.append(name)
            self.unknown_keys(raw, SOURCE_KEYS, name, where)
            columns: Dict[str, Column] = {}
            raw_columns = raw.get("columns")
            if raw_columns is None or raw_columns == []:
                self.error(where, "'columns' is required and must not be empty")
            for item in self.list_of_objects(raw, "columns", where):
                checkpoint()
                col = self.build_column(name, item, where)
                if col is None:
                    continue
                if col.name in columns:
                    self.error(f"{where}: column '{col.name}'", "duplicate column name")
                    continue
                columns[col.name] = col
            drafts[name]["columns"] = columns

        sources: Dict[str, Source] = {}
        for name in order:
            checkpoint()
            self.current = name
            source = self.build_source(name, drafts)
            if source is not None:
                sources[name] = source
        self.current = None
        graph = self.build_graph(sources)
        return Model(
            dialect=self.dialect,
            sources=sources,
            errors=tuple(self.errors),
            warnings=tuple(self.warnings),
            graph=graph,
            errors_of={k: tuple(v) for k, v in self.errors_of.items()},
        )

    def build_source(self, name: str, drafts: Dict[str, Dict[str, Any]]) -> Optional[Source]:
        d = drafts[name]
        raw, where, columns = d["raw"], d["where"], d["columns"]

        # table | sql
        table = self.opt_str(raw, "table", where)
        sql = self.opt_str(raw, "sql", where)
        relation: exp.Expression = exp.to_table(name)
        if table and sql:
            self.error(where, "'table' and 'sql' are mutually exclusive; give one")
        elif not table and not sql:
            self.error(where, "one of 'table' or 'sql' is required")
        elif table:
            try:
                relation = parse_table(table, self.dialect)
            except SnippetLimit as exc:
                self.error(where, exc.describe("table", table))
            except ValueError as exc:
                self.error(where, f"cannot parse table name '{table}' ({self.dialect}): {exc}")
        else:
            try:
                relation = parse_select(sql or "", self.dialect)
            except SnippetLimit as exc:
                self.error(where, exc.describe("sql", sql or ""))
            except ValueError as exc:
                self.error(where, f"cannot parse sql ({self.dialect}): {exc}")

        # grain
        grain_raw = raw.get("grain")
        grain: List[str] = []
        if not isinstance(grain_raw, list) or not grain_raw or not all(isinstance(g, str) and g for g in grain_raw):
            self.error(where, "'grain' is required: a non-empty list of column names")
        else:
            for g in grain_raw:
                if "." in g:
                    self.error(where, f"grain entry '{g}' must be an unqualified column name")
                elif g not in columns:
                    self.error(where, f"grain column '{g}' is not among the columns ({known(list(columns))})")
                else:
                    grain.append(g)

        for key in ("description",):
            self.opt_str(raw, key, where)
        if raw.get("descriptions") is not None and not isinstance(raw.get("descriptions"), dict):
            self.error(where, "'descriptions' must be an object (user, ai, dbt, db -> text)")

        segments = self.build_segments(name, raw, where, columns)
        measures = self.build_measures(name, raw, where, columns, segments)
        joins = self.build_joins(name, raw, where, columns, drafts)
        return Source(
            name=name,
            table=table if not sql else None,
            sql=sql if not table else None,
            grain=tuple(grain),
            description=resolve_description(raw.get("description"), raw.get("descriptions")),
            columns=columns,
            measures=measures,
            segments=segments,
            joins=tuple(joins),
            relation=relation,
        )

    def build_segments(self, name, raw, where, columns) -> Dict[str, Segment]:
        out: Dict[str, Segment] = {}
        column_of = self.own_column_resolver(name, columns)
        for item in self.list_of_objects(raw, "segments", where):
            checkpoint()
            sname = item.get("name")
            if not isinstance(sname, str) or not sname:
                self.error(where, "a segment has no 'name'")
                continue
            swhere = f"{where}: segment '{clip(sname, 60)}'"
            self.unknown_keys(item, SEGMENT_KEYS, name, swhere)
            if not NAME_RE.match(sname):
                self.error(swhere, "the name must be an identifier (letters, digits, _)")
                continue
            if sname in out:
                self.error(swhere, "duplicate segment name")
                continue
            text = self.req_str(item, "expr", swhere)
            if text is None:
                continue
            node = self.parse(text, swhere, "expr")
            if node is None:
                continue
            if node.find(exp.AggFunc) is not None or isinstance(node, exp.AggFunc):
                self.error(swhere, f"expr '{text}' must be a row-level condition, not an aggregate")
                continue
            try:
                node = substitute_columns(node, column_of)
            except RefError as exc:
                self.error(swhere, f"{exc} (in expr '{text}')")
                continue
            out[sname] = Segment(sname, text, resolve_description(item.get("description"), None), node)
        return out

    def build_measures(self, name, raw, where, columns, segments) -> Dict[str, Measure]:
        items: Dict[str, Dict[str, Any]] = {}
        for item in self.list_of_objects(raw, "measures", where):
            mname = item.get("name")
            if not isinstance(mname, str) or not mname:
                self.error(where, "a measure has no 'name'")
                continue
            mwhere = f"{where}: measure '{clip(mname, 60)}'"
            self.unknown_keys(item, MEASURE_KEYS, name, mwhere)
            if not NAME_RE.match(mname):
                self.error(mwhere, "the name must be an identifier (letters, digits, _)")
                continue
            if mname in items:
                self.error(mwhere, "duplicate measure name")
                continue
            if mname in columns:
                self.warn(
                    name,
                    mwhere,
                    f"has the name of a column; '{name}.{mname}' means the measure in measures and the "
                    "column in dimensions and filters",
                )
            items[mname] = item

        built: Dict[str, Optional[Measure]] = {}
        visiting: List[str] = []
        levels: Dict[str, int] = {}  # 1 for a measure of aggregates, 1 + the deepest it uses

        def build(mname: str) -> Optional[Measure]:
            if mname in built:
                return built[mname]
            checkpoint()
            item = items[mname]
            mwhere = f"{where}: measure '{mname}'"
            visiting.append(mname)
            result = None
            try:
                result = self.build_measure(name, mname, item, mwhere, columns, segments, items, build, visiting, levels)
            finally:
                visiting.pop()
            built[mname] = result
            return result

        for mname in items:
            build(mname)
        return {m: built[m] for m in items if built.get(m) is not None}  # type: ignore[misc]

    def build_measure(self, name, mname, item, mwhere, columns, segments, items, build, visiting, levels) -> Optional[Measure]:
        text = self.req_str(item, "expr", mwhere)
        if text is None:
            return None
        node = self.parse(text, mwhere, "expr", allow_count_star=True)
        if node is None:
            return None
        try:
            measure = self._build_measure(name, mname, item, mwhere, columns, segments, items, build, visiting, levels, text, node)
        except NodeLimit as exc:
            self.error(
                mwhere,
                f"expr '{clip(text)}' holds {exc} once the measures, columns, filter and segments it uses are "
                f"inlined; the limit is {exc.limit:,}",
            )
            return None
        if measure is not None:
            self.measure_nodes += measure.size
            if self.measure_nodes > MAX_MODEL_MEASURE_NODES:
                raise _ModelTooLarge(
                    f"the model's measures hold more than {MAX_MODEL_MEASURE_NODES:,} SQL syntax nodes once the "
                    f"measures they use are inlined (reached at {mwhere}); the limit is {MAX_MODEL_MEASURE_NODES:,}"
                )
        return measure

    def _build_measure(self, name, mname, item, mwhere, columns, segments, items, build, visiting, levels, text, node) -> Optional[Measure]:
        budget = NodeBudget(MAX_MEASURE_NODES)
        budget.charge(tree_size(node))
        own_column = self.own_column_resolver(name, columns)

        def column_of(col: exp.Column) -> exp.Expression:
            copy = own_column(col)
            budget.charge(tree_size(copy))
            return copy

        derived = [False]
        used: List[int] = []

        def measure_of(col: exp.Column) -> MeasureForm:
            if col.args.get("db") is not None or (col.table and col.table != name):
                raise RefError(f"'{col.sql()}' is not a measure of {name}; a derived measure uses its own source's measures")
            ref = col.name
            if ref not in items:
                if ref in columns:
                    raise RefError(f"column '{ref}' is used outside an aggregate (e.g. sum({ref}))")
                raise RefError(f"unknown measure '{ref}'; known measures of {name}: {known(list(items))}")
            if ref in visiting:
                raise RefError(f"circular measure reference {' -> '.join(visiting + [ref])}")
            target = build(ref)
            if target is None:
                raise RefError(f"uses measure '{ref}', which is invalid")
            derived[0] = True
            used.append(levels[ref])
            budget.charge(target.size)
            return target.form

        try:
            form = analyse_measure(node, column_of, measure_of)
        except RefError as exc:
            self.error(mwhere, f"{exc} (in expr '{clip(text, 200)}')")
            return None
        level = 1 + max(used, default=0)
        if level > MAX_DEPTH:
            self.error(mwhere, f"builds on measures {level:,} levels deep; the limit is {MAX_DEPTH}")
            return None
        levels[mname] = level

        predicates: List[exp.Expression] = []
        ftext = self.opt_str(item, "filter", mwhere)
        if ftext is not None and ftext.strip():
            fnode = self.parse(ftext, mwhere, "filter")
            if fnode is None:
                return None
            if fnode.find(exp.AggFunc) is not None or isinstance(fnode, exp.AggFunc):
                self.error(mwhere, f"filter '{ftext}' must be a row-level condition, not an aggregate")
                return None
            try:
                predicates.append(substitute_columns(fnode, column_of))
            except RefError as exc:
                self.error(mwhere, f"{exc} (in filter '{ftext}')")
                return None
        seg_raw = item.get("segments")
        seg_names: List[str] = []
        if seg_raw is not None:
            if not isinstance(seg_raw, list) or not all(isinstance(s, str) for s in seg_raw):
                self.error(mwhere, "'segments' must be a list of segment names")
                return None
            for s in seg_raw:
                if s not in segments:
                    self.error(mwhere, f"unknown segment '{s}'; known segments of {name}: {known(list(segments))}")
                    return None
                predicates.append(segments[s].node.copy())
                seg_names.append(s)
        predicate = and_all(*predicates)
        if predicate is not None:
            budget.charge(len(form.calls) * tree_size(predicate))
        form = form.filtered(predicate)
        depth = tree_nesting(form.template, *[c.arg for c in form.calls], *[c.filter for c in form.calls])
        if depth > MAX_DEPTH:
            self.error(
                mwhere,
                f"expr '{clip(text)}' nests {depth:,} levels deep once the measures, filter and segments it uses "
                f"are inlined; the limit is {MAX_DEPTH}",
            )
            return None
        return Measure(
            name=mname,
            expr=text,
            filter=ftext if ftext and ftext.strip() else None,
            segments=tuple(seg_names),
            description=resolve_description(item.get("description"), None),
            form=form,
            derived=derived[0],
            source=name,
            dialect=self.dialect,
            size=budget.used,  # counted before copying: at least the form's nodes
        )

    def build_joins(self, name, raw, where, columns, drafts) -> List[Join]:
        joins: List[Join] = []
        seen_targets: Dict[str, int] = {}
        for i, item in enumerate(self.list_of_objects(raw, "joins", where)):
            checkpoint()
            to = item.get("to")
            if not isinstance(to, str) or not to:
                self.error(where, f"joins[{i}] has no 'to'")
                continue
            jwhere = f"{where}: join to '{to}'"
            self.unknown_keys(item, JOIN_KEYS, name, jwhere)
            relationship = item.get("relationship")
            if relationship not in RELATIONSHIPS:
                self.error(jwhere, f"'relationship' must be one of {', '.join(RELATIONSHIPS)} (got {relationship!r})")
                continue
            on = self.req_str(item, "on", jwhere)
            alias = self.opt_str(item, "alias", jwhere)
            provenance = item.get("source")
            if provenance is not None and provenance not in JOIN_PROVENANCES:
                self.warn(name, jwhere, f"unknown source {provenance!r} (ignored); known: {', '.join(JOIN_PROVENANCES)}")
            marked = " (marked source: inferred)" if provenance == "inferred" else ""
            if to not in drafts:
                self.error(jwhere, f"unknown source '{to}'; known sources: {known(sorted(drafts))}")
                continue
            if to == name:
                # KTX keeps such a join and its paths never use it: a warning, left out of paths
                self.warn(
                    name,
                    jwhere,
                    f"ignored: joins[{i}] joins {name} to itself{marked}; a source cannot join itself "
                    "(a self-join needs an alias, which is not supported)",
                )
                continue
            if on is None:
                continue
            pairs = self.parse_on(on, name, columns, to, drafts[to]["columns"], alias, jwhere)
            if pairs is None:
                continue
            if to in seen_targets:
                # KTX takes the first of equal join paths: the later ones are left out
                self.warn(
                    name,
                    jwhere,
                    f"ignored: joins[{seen_targets[to]}] already joins {to}"
                    + (f" (aliased joins such as '{alias}' are not supported)" if alias else "")
                    + f"; joins[{i}]{marked} is left out of join paths",
                )
                continue
            if alias:
                self.warn(name, jwhere, f"alias '{alias}' is not supported; the join is used under the name '{to}'")
            seen_targets[to] = i
            joins.append(Join(to=to, on=on, relationship=relationship, alias=alias, pairs=tuple(pairs)))
        return joins

    def parse_on(self, text, name, columns, to, target_columns, alias, where) -> Optional[List[Tuple[str, str]]]:
        node = self.parse(text, where, "on")
        if node is None:
            return None
        conjuncts: List[exp.Expression] = []
        pending = [node]  # a long AND chain is a deep tree: flattened without recursion
        while pending:
            n = pending.pop().unnest()
            if isinstance(n, exp.And):
                pending.append(n.expression)
                pending.append(n.this)
            else:
                conjuncts.append(n)
        pairs: List[Tuple[str, str]] = []
        target_names = {to} | ({alias} if alias else set())
        for c in conjuncts:
            if not isinstance(c, exp.EQ) or not all(isinstance(s.unnest(), exp.Column) for s in (c.this, c.expression)):
                self.error(
                    where,
                    f"cannot use on '{text}': it must be column equalities joined by AND "
                    f"(e.g. customer_id = {to}.id)",
                )
                return None
            own_side: Optional[str] = None
            target_side: Optional[str] = None
            for side in (c.this.unnest(), c.expression.unnest()):
                qualifier = side.table
                if side.args.get("db") is not None:
                    self.error(where, f"bad reference '{side.sql()}' in on '{text}'")
                    return None
                if qualifier in target_names and target_side is None:
                    found = self.lookup(target_columns, side.name, bool(side.this.args.get("quoted")))
                    if found is None:
                        self.error(
                            where,
                            f"unknown column '{side.name}' of {to} in on '{text}'; "
                            f"known columns of {to}: {known(list(target_columns))}",
                        )
                        return None
                    target_side = found.name
                elif qualifier in ("", name) and own_side is None:
                    found = self.lookup(columns, side.name, bool(side.this.args.get("quoted")))
                    if found is None:
                        self.error(
                            where,
                            f"unknown column '{side.name}' of {name} in on '{text}'; "
                            f"known columns of {name}: {known(list(columns))}",
                        )
                        return None
                    own_side = found.name
                else:
                    self.error(
                        where,
                        f"cannot tell the sides of '{c.sql()}' in on '{text}'; qualify the target's column "
                        f"with '{to}.' and leave this source's column bare",
                    )
                    return None
            if own_side is None or target_side is None:
                self.error(where, f"'{c.sql()}' in on '{text}' must compare a column of {name} with one of {to}")
                return None
            pairs.append((own_side, target_side))
        return pairs

    def build_graph(self, sources: Dict[str, Source]) -> Dict[str, Dict[str, Edge]]:
        graph: Dict[str, Dict[str, Edge]] = {n: {} for n in sources}
        # a source's own declaration wins over the inverse of the other side's
        for name in sources:
            for j in sources[name].joins:
                if j.to in graph:
                    graph[name][j.to] = Edge(name, j.to, j.relationship, j.pairs)
        for name in sources:
            for j in sources[name].joins:
                if j.to in graph and name not in graph[j.to]:
                    graph[j.to][name] = Edge(
                        j.to, name, INVERSE_RELATIONSHIP[j.relationship], tuple((b, a) for a, b in j.pairs)
                    )
        return graph


def _display_qualified(node: exp.Expression, source: str, dialect: str) -> str:
    """The measure expr with its column references qualified by the source name, for display."""
    copy = node.copy()
    for col in list(copy.find_all(exp.Column)):
        if not col.table:
            col.set("table", exp.to_identifier(source))
    return display(copy, dialect)


def _refused(dialect: str, message: str) -> Model:
    """The model of sources over a size limit: that one error, nothing built."""
    return Model(dialect=dialect, sources={}, errors=(message,), warnings=(), errors_of={None: (message,)})


def build_model(sources: Any, dialect: str) -> Model:
    """Build the model of the wire ``sources`` (snippets written in ``dialect``)."""
    if not isinstance(sources, list):
        raise MalformedError("'sources' must be a list of source objects")
    too_big = limits.model_size_error(sources)
    if too_big is not None:
        return _refused(dialect, too_big)
    return _build(sources, dialect)


class _ModelTooLarge(Exception):
    """The build went over a model-wide limit: the model is refused as a whole (message: one line)."""


def _build(sources: List[Any], dialect: str) -> Model:
    limits.ensure_recursion_limit()
    try:
        return _Builder(sources, dialect).build()
    except _ModelTooLarge as exc:
        return _refused(dialect, str(exc))


# --------------------------------------------------------------------------- the daemon's cache

CACHE_SIZE = 8
# the cached models together hold at most this many syntax-tree nodes in their columns and
# measures (about two models at the size limits, 150-300 MB), however many of the 8 slots that
# takes; the newest model is kept whatever its weight, the ones before it go first
CACHE_WEIGHT = 2 * (3 * limits.MAX_COLUMNS + limits.MAX_MODEL_MEASURE_NODES)
_cache: "OrderedDict[str, Model]" = OrderedDict()
_cache_lock = threading.Lock()


def cache_key(sources: Any, dialect: str) -> Optional[str]:
    try:
        return json.dumps([sources, dialect], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None


def _weight(model: Model) -> int:
    """The syntax-tree nodes a model holds in its columns and measures (what its memory grows with)."""
    return sum(
        sum(c.size for c in s.columns.values()) + sum(m.size for m in s.measures.values())
        for s in model.sources.values()
    ) + 1


def get_model(sources: Any, dialect: str) -> Model:
    """``build_model`` through a small LRU keyed by the canonical JSON of (sources, dialect)."""
    too_big = limits.model_size_error(sources, snippets=False)
    if too_big is not None:  # refused before the key (a JSON dump of the whole input) is made
        return _refused(dialect, too_big)
    if not isinstance(sources, list):
        raise MalformedError("'sources' must be a list of source objects")
    key = cache_key(sources, dialect)
    if key is not None:
        with _cache_lock:
            model = _cache.get(key)
            if model is not None:
                _cache.move_to_end(key)
                return model
    too_big = limits.model_size_error(sources)
    if too_big is not None:  # not cached: the check costs less than the key
        return _refused(dialect, too_big)
    model = _build(sources, dialect)
    if key is not None:
        with _cache_lock:
            _cache[key] = model
            _cache.move_to_end(key)
            total = sum(_weight(m) for m in _cache.values())
            while len(_cache) > 1 and (len(_cache) > CACHE_SIZE or total > CACHE_WEIGHT):
                total -= _weight(_cache.popitem(last=False)[1])
    return model


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
