"""Compile a semantic query against a Model into one SQL statement (sqlglot) and its plan.

Plan, per measure source S (every source owning a requested measure):

1. ``ktx_<S>_rows``: S LEFT JOINed along the shortest join paths (BFS) to every source a
   requested dimension or a row-level filter needs. It selects the dimensions and the
   row-level argument of every aggregate call of S's measures; a measure's ``filter``, its
   segments and the query's segments on S become ``CASE WHEN <predicate> THEN <argument> END``
   there, so that every aggregate of the measure only sees matching rows. When a step of those
   paths fans S out (one_to_many), the CTE is ``SELECT DISTINCT`` and carries S's grain
   columns: every row of S counts once per dimension combination, never once per joined row.
2. ``ktx_<S>_agg``: the aggregates over ``ktx_<S>_rows`` combined into each measure's value
   (several aggregates, derived measures), grouped by the dimensions.
3. Several measure sources are combined through ``ktx_spine`` (the UNION of their dimension
   values) with LEFT JOINs on NULL-safe equality; without dimensions, by CROSS JOIN of one-row
   aggregates. Filters on measures apply to that final result, then ORDER BY and LIMIT.

``Planner.compile`` runs this as named steps, each on the small typed context the steps
before it made: ``resolve_fields`` (-> ``_Fields``: measures, dimensions, filters, segments
resolved), ``group_measures`` (-> a ``_Group`` per measure source, its grain),
``build_groups`` (each group's join path and CTEs -> ``_Ctes``), ``join_groups`` (the final
SELECT and its names, ``_Output``), ``order_and_limit``; then ``output_columns`` and ``plan``.

Every identifier is quoted. Snippets are read in the model's dialect and written in the
query's output dialect. The query's own snippets (filters, ad-hoc measures) are held to the
snippet limits of ``semantic_layer.limits``; the planner checks for cancellation
(``semantic_layer.cancel``) at every measure, dimension, filter and measure source.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Dict, List, Optional, Tuple

from sqlglot import exp

from . import limits
from .cancel import checkpoint
from .errors import RejectedError
from .expressions import (
    GRANULARITIES,
    and_all,
    check_dialect,
    is_predicate,
    parse_expression,
    quote_all,
    tree_nesting,
    tree_size,
    truncate_time,
)
from .limits import MAX_DEPTH, NodeBudget, NodeLimit, SnippetLimit, clip
from .measures import RefError, analyse_measure
from .model_types import Column, Edge, MeasureForm, Model, Source, known
from .query import AdHocMeasure, DimensionSpec, Query

_REF_RE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*(\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)?\s*$")


@dataclass(frozen=True)
class FieldRef:
    """A resolved reference of the query.

    kind: "column" (a dimension or a row-level filter operand), "measure" (a pre-defined
    measure) or "adhoc" (a measure defined in the query; ``field`` is its name).
    """

    source: str
    field: str
    kind: str
    granularity: Optional[str] = None

    @property
    def ref(self) -> str:
        return self.field if self.kind == "adhoc" else f"{self.source}.{self.field}"


@dataclass
class Compiled:
    sql: str
    dialect: str
    columns: List[Dict[str, Any]]
    plan: Dict[str, Any]


@dataclass
class _MeasureInfo:
    form: MeasureForm
    expr: str
    description: Optional[str]
    provenance: str


@dataclass
class _Filter:
    text: str
    node: exp.Expression  # row-level: columns substituted; post: as parsed
    refs: Dict[Tuple[str, str], FieldRef]  # (qualifier, name) of each column node -> ref


@dataclass
class _Fields:
    """Step 1's answer: the query's references resolved against the model."""

    measures: List[FieldRef] = field(default_factory=list)  # the requested measures, in order
    infos: Dict[FieldRef, _MeasureInfo] = field(default_factory=dict)
    adhoc: Dict[str, FieldRef] = field(default_factory=dict)  # ad-hoc measure name -> its ref
    dims: List[FieldRef] = field(default_factory=list)
    row_filters: List[_Filter] = field(default_factory=list)  # on columns: in every rows CTE
    post_filters: List[_Filter] = field(default_factory=list)  # on measures: on the final result
    hidden: List[FieldRef] = field(default_factory=list)  # measures only filters use
    forms: Dict[FieldRef, MeasureForm] = field(default_factory=dict)  # with the query's segments applied

    @property
    def all_measures(self) -> List[FieldRef]:
        return self.measures + self.hidden

    @property
    def dim_cols(self) -> List[str]:
        return [f"dim_{i}" for i in range(len(self.dims))]

    @cached_property
    def msr_col(self) -> Dict[FieldRef, str]:
        return {m: f"msr_{i}" for i, m in enumerate(self.all_measures)}

    def dim_index(self, ref: FieldRef) -> Optional[int]:
        """The dimension of ``ref``'s column (the one without granularity first), or None."""
        matches = [i for i, d in enumerate(self.dims) if d.source == ref.source and d.field == ref.field]
        plain = [i for i in matches if self.dims[i].granularity is None]
        return (plain or matches or [None])[0]


@dataclass
class _Group:
    """The measures of one source (one grain) and what computes them (steps 2 and 3)."""

    root: str  # the source owning the measures
    measures: List[FieldRef] = field(default_factory=list)
    edges: List[Edge] = field(default_factory=list)  # its join path to the dimensions' and filters' sources
    fanout: str = ""  # the one_to_many steps of that path, for the plan

    @property
    def rows_name(self) -> str:
        return f"ktx_{self.root}_rows"

    @property
    def agg_name(self) -> str:
        return f"ktx_{self.root}_agg"


@dataclass
class _Ctes:
    """Step 3's answer: the CTEs in order and what the plan reports of them."""

    ctes: List[Tuple[str, exp.Expression]] = field(default_factory=list)
    plan_edges: List[Edge] = field(default_factory=list)
    fanouts: List[str] = field(default_factory=list)
    sources_used: List[str] = field(default_factory=list)


class _Output:
    """Step 4's names: where the final SELECT reads each dimension and measure, and its aliases."""

    def __init__(self, fields: _Fields, groups: List[_Group]) -> None:
        self.fields = fields
        self.groups = groups
        self.multi = len(groups) > 1
        self.agg_names = {g.root: g.agg_name for g in groups}
        self.dim_source = "ktx_spine" if fields.dims and self.multi else groups[0].agg_name
        # output aliases: the field name (dimension with granularity: field_granularity), or
        # source_name when two outputs share a name
        self.outputs: List[FieldRef] = fields.dims + fields.measures
        bases = [f"{o.field}_{o.granularity}" if o.granularity else o.field for o in self.outputs]
        self.aliases: List[str] = []
        for o, base in zip(self.outputs, bases):
            alias = base if bases.count(base) == 1 else f"{o.source}_{base}"
            candidate, n = alias, 2
            while candidate in self.aliases:
                candidate, n = f"{alias}_{n}", n + 1
            self.aliases.append(candidate)

    def dim_ref(self, i: int) -> exp.Expression:
        return exp.column(self.fields.dim_cols[i], table=self.dim_source)

    def msr_ref(self, m: FieldRef) -> exp.Expression:
        col = exp.column(self.fields.msr_col[m], table=self.agg_names[m.source])
        if self.multi and self.fields.forms[m].is_count:
            return exp.func("COALESCE", col, exp.Literal.number(0))
        return col


def _auto_name(expr: str) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", expr.strip().lower().replace(".", "_"))
    name = re.sub(r"_+", "_", name).strip("_")
    if not name:
        return "measure"
    return f"m_{name}" if name[0].isdigit() else name


def _null_safe_eq(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Paren(
        this=exp.or_(
            a.eq(b),
            exp.and_(exp.Is(this=a.copy(), expression=exp.Null()), exp.Is(this=b.copy(), expression=exp.Null())),
        )
    )


def _join(select: exp.Select, item: exp.Expression, on: Optional[exp.Expression] = None, side: Optional[str] = None, kind: Optional[str] = None) -> None:
    """Append a join to ``select`` in place (no parsing, no copy)."""
    join = exp.Join(this=item)
    if on is not None:
        join.set("on", on)
    if side:
        join.set("side", side)
    if kind:
        join.set("kind", kind)
    select.append("joins", join)


def _aggregate(func: str, value: Optional[exp.Expression]) -> exp.Expression:
    if func == "count":
        return exp.Count(this=exp.Star() if value is None else value)
    if func == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[value]))
    cls = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[func]
    return cls(this=value)


class Planner:
    def __init__(self, model: Model) -> None:
        model.check_usable(())  # the errors of no one source stop every query
        self.model = model
        self.read = model.dialect

    # ------------------------------------------------------------------ lookups
    def _source(self, name: str, context: str) -> Source:
        src = self.model.sources.get(name)
        if src is None:
            raise RejectedError(f"unknown source '{name}' in {context}; known sources: {known(list(self.model.sources))}")
        self.model.check_usable((name,))
        return src

    def _split(self, text: str, what: str) -> Tuple[Optional[str], str]:
        parts = [p.strip() for p in text.strip().split(".")]
        if len(parts) == 1 and parts[0]:
            return None, parts[0]
        if len(parts) == 2 and all(parts):
            return parts[0], parts[1]
        raise RejectedError(f"bad {what} reference '{text}'; use source.field (e.g. orders.revenue) or a bare field name")

    def _bare(self, name: str, kinds: Tuple[str, ...]) -> List[FieldRef]:
        found = []
        for src in self.model.sources.values():
            if "column" in kinds and name in src.columns:
                found.append(FieldRef(src.name, name, "column"))
            elif "measure" in kinds and name in src.measures:
                found.append(FieldRef(src.name, name, "measure"))
        return found

    def _ambiguous(self, name: str, found: List[FieldRef]) -> RejectedError:
        return RejectedError(
            f"ambiguous name '{name}': {', '.join(f.ref for f in found)} all match; qualify it as source.field"
        )

    def _column(self, ref: FieldRef) -> Column:
        return self.model.sources[ref.source].columns[ref.field]

    def _check_visible(self, ref: FieldRef, context: str) -> None:
        if ref.kind == "column" and self._column(ref).visibility == "hidden":
            raise RejectedError(f"column '{ref.ref}' is hidden and cannot be queried ({context})")

    def resolve_measure_ref(self, text: str) -> FieldRef:
        qualifier, name = self._split(text, "measure")
        if qualifier is None:
            found = self._bare(name, ("measure",))
            if len(found) > 1:
                raise self._ambiguous(name, found)
            if not found:
                all_measures = [f"{s.name}.{m}" for s in self.model.sources.values() for m in s.measures]
                hint = ""
                if self._bare(name, ("column",)):
                    hint = f" ('{name}' is a column: aggregate it, e.g. sum({self._bare(name, ('column',))[0].ref}))"
                raise RejectedError(f"unknown measure '{name}'{hint}; known measures: {known(all_measures)}")
            self.model.check_usable((found[0].source,))
            return found[0]
        src = self._source(qualifier, f"measure '{text}'")
        if name not in src.measures:
            hint = f" ('{qualifier}.{name}' is a column: aggregate it, e.g. sum({qualifier}.{name}))" if name in src.columns else ""
            raise RejectedError(
                f"unknown measure '{qualifier}.{name}'{hint}; known measures of {qualifier}: {known(list(src.measures))}"
            )
        return FieldRef(src.name, name, "measure")

    def resolve_column_ref(self, text: str, context: str) -> FieldRef:
        qualifier, name = self._split(text, "dimension")
        if qualifier is None:
            found = self._bare(name, ("column",))
            if len(found) > 1:
                raise self._ambiguous(name, found)
            if not found:
                measures = self._bare(name, ("measure",))
                hint = f" ('{measures[0].ref}' is a measure, not a column)" if measures else ""
                raise RejectedError(f"unknown column '{name}'{hint} in {context}; qualify it as source.column")
            ref = found[0]
            self.model.check_usable((ref.source,))
        else:
            src = self._source(qualifier, context)
            if name not in src.columns:
                hint = f" ('{qualifier}.{name}' is a measure, not a column)" if name in src.measures else ""
                raise RejectedError(
                    f"unknown column '{qualifier}.{name}'{hint} in {context}; known columns of {qualifier}: "
                    f"{known(list(src.columns))}"
                )
            ref = FieldRef(src.name, name, "column")
        self._check_visible(ref, context)
        return ref

    def _resolve_any(self, col: exp.Column, context: str, adhoc: Dict[str, FieldRef]) -> FieldRef:
        """A column node of a filter: a column, a measure, or an ad-hoc measure's name."""
        if col.args.get("db") is not None or col.args.get("catalog") is not None:
            raise RejectedError(f"bad reference '{col.sql()}' in {context}; use source.field")
        name = col.name
        if not col.table:
            if name in adhoc:
                return adhoc[name]
            found = self._bare(name, ("column",)) or self._bare(name, ("measure",))
            if len(found) > 1:
                raise self._ambiguous(name, found)
            if not found:
                hint = " (string literals use single quotes)" if col.this.args.get("quoted") else ""
                raise RejectedError(f"unknown field '{name}' in {context}{hint}; use source.field (e.g. orders.status)")
            ref = found[0]
        else:
            src = self._source(col.table, context)
            if name in src.columns:
                ref = FieldRef(src.name, name, "column")
            elif name in src.measures:
                ref = FieldRef(src.name, name, "measure")
            else:
                raise RejectedError(
                    f"unknown field '{col.table}.{name}' in {context}; known fields of {col.table}: "
                    f"{known(list(src.columns) + list(src.measures))}"
                )
        self._check_visible(ref, context)
        return ref

    # ------------------------------------------------------------------ measures
    def _adhoc(self, item: AdHocMeasure) -> Tuple[FieldRef, _MeasureInfo]:
        text = item.expr
        context = f"measure '{clip(text, 200)}'"
        try:
            node = parse_expression(text, self.read, allow_count_star=True)
        except SnippetLimit as exc:
            raise limits.LimitError(exc.describe("measure", text)) from None
        except ValueError as exc:
            raise RejectedError(f"cannot parse {context}: {exc}") from None
        sources: List[str] = []

        def note(source: str) -> None:
            if source not in sources:
                sources.append(source)

        def qualified_name(col: exp.Column) -> str:
            if col.args.get("db") is not None or col.args.get("catalog") is not None:
                raise RejectedError(f"bad reference '{col.sql()}' in {context}; use source.field")
            return f"{col.table}.{col.name}" if col.table else col.name

        self.budget.charge(tree_size(node))

        def column_of(col: exp.Column) -> exp.Expression:
            qualified = qualified_name(col)
            ref = self.resolve_column_ref(qualified, context)
            note(ref.source)
            self.budget.charge(self._column(ref).size)
            return self._column(ref).sql_node()

        def measure_of(col: exp.Column) -> MeasureForm:
            qualified = qualified_name(col)
            ref = self.resolve_measure_ref(qualified)
            note(ref.source)
            measure = self.model.sources[ref.source].measures[ref.field]
            self.budget.charge(measure.size)
            return measure.form

        try:
            form = analyse_measure(node, column_of, measure_of)
        except RefError as exc:
            raise RejectedError(f"ad-hoc {context}: {exc}") from None
        if not sources:
            raise RejectedError(f"ad-hoc {context} references no source; use source.column, e.g. count(orders.order_id)")
        if len(sources) > 1:
            raise RejectedError(
                f"ad-hoc {context} mixes sources {', '.join(sources)}; an ad-hoc measure is computed over one source"
            )
        depth = tree_nesting(form.template, *[c.arg for c in form.calls], *[c.filter for c in form.calls])
        if depth > MAX_DEPTH:
            raise limits.LimitError(
                f"measure '{clip(text)}' nests {depth:,} levels deep once the measures it uses are inlined; "
                f"the limit is {MAX_DEPTH}"
            )
        name = item.name or _auto_name(text)
        return FieldRef(sources[0], name, "adhoc"), _MeasureInfo(form, text, None, "composed")

    def _predefined(self, ref: FieldRef) -> _MeasureInfo:
        m = self.model.sources[ref.source].measures[ref.field]
        self.budget.charge(m.size)
        return _MeasureInfo(m.form, m.display, m.description, "verified")

    # ------------------------------------------------------------------ filters
    def _filter(self, text: str, adhoc: Dict[str, FieldRef]) -> _Filter:
        context = f"filter '{clip(text, 200)}'"
        try:
            node = parse_expression(text, self.read)
        except SnippetLimit as exc:
            raise limits.LimitError(exc.describe("filter", text)) from None
        except ValueError as exc:
            raise RejectedError(f"cannot parse {context}: {exc}") from None
        if node.find(exp.AggFunc) is not None or isinstance(node, exp.AggFunc):
            raise RejectedError(
                f"{context} aggregates; filter on a measure instead (name an ad-hoc measure with "
                '{"name", "expr"} and filter on that name)'
            )
        refs: Dict[Tuple[str, str], FieldRef] = {}
        cols = [node] if isinstance(node, exp.Column) else list(node.find_all(exp.Column))
        for col in cols:
            refs[(col.table, col.name)] = self._resolve_any(col, context, adhoc)
        if not refs:
            raise RejectedError(f"{context} references no field; use source.field")
        if not is_predicate(node):
            only = next(iter(refs.values()))
            if not (isinstance(node, exp.Column) and only.kind == "column" and self._column(only).type == "boolean"):
                raise RejectedError(f"{context} is not a boolean condition (e.g. orders.status = 'completed')")
        return _Filter(text, node, refs)

    @staticmethod
    def _replace(node: exp.Expression, refs: Dict[Tuple[str, str], FieldRef], fn: Callable[[FieldRef], exp.Expression]) -> exp.Expression:
        def sub(n: exp.Expression) -> exp.Expression:
            if isinstance(n, exp.Column) and (n.table, n.name) in refs:
                repl = fn(refs[(n.table, n.name)])
                if not isinstance(repl, (exp.Column, exp.Literal, exp.Func, exp.Paren)):
                    repl = exp.Paren(this=repl)
                return repl
            return n

        if isinstance(node, exp.Column):
            return sub(node)
        return node.transform(sub)

    # ------------------------------------------------------------------ graph
    def _bfs(self, root: str) -> Tuple[Dict[str, Optional[Edge]], List[str]]:
        parent: Dict[str, Optional[Edge]] = {root: None}
        order = [root]
        queue = deque([root])
        graph = self.model.graph
        while queue:
            node = queue.popleft()
            for nxt in sorted(graph.get(node, {})):
                if nxt not in parent:
                    parent[nxt] = graph[node][nxt]
                    order.append(nxt)
                    queue.append(nxt)
        return parent, order

    # ------------------------------------------------------------------ compile
    def compile(self, query: Query, dialect: str) -> Compiled:
        """The query as one SQL statement in ``dialect``, with its output columns and its plan."""
        self.budget = NodeBudget(limits.MAX_QUERY_MEASURE_NODES)
        try:
            return self._compile(query, dialect)
        except NodeLimit as exc:
            raise limits.LimitError(
                f"the query's measures hold {exc} once the measures, columns, filters and segments they use are "
                f"inlined; the limit is {exc.limit:,}"
            ) from None

    def _compile(self, query: Query, dialect: str) -> Compiled:
        limits.ensure_recursion_limit()
        self.target = check_dialect(dialect)
        if not query.measures:
            raise RejectedError("a query needs at least one measure (e.g. orders.revenue)")
        fields = self.resolve_fields(query)
        groups = self.group_measures(fields)
        ctes = self.build_groups(fields, groups)
        final, out = self.join_groups(fields, groups, ctes)
        self.order_and_limit(query, final, out)
        for name, cte in ctes.ctes:
            final.with_(exp.TableAlias(this=exp.to_identifier(name)), as_=cte, copy=False)
        checkpoint()
        sql = quote_all(final).sql(dialect=self.target, pretty=True, copy=False)  # the tree is ours alone
        return Compiled(sql=sql, dialect=self.target, columns=self.output_columns(fields), plan=self.plan(query, fields, groups, ctes, out))

    # ------------------------------------------------------------------ step 1: resolve fields
    def resolve_fields(self, query: Query) -> _Fields:
        """Every measure, dimension, filter and segment of the query, resolved against the model."""
        fields = _Fields()
        self.resolve_measures(query, fields)
        for spec in query.dimensions:
            checkpoint()
            dim = self._dimension(spec)
            if dim not in fields.dims:
                fields.dims.append(dim)
        self.resolve_filters(query, fields)
        self.apply_segments(query, fields)
        return fields

    def resolve_measures(self, query: Query, fields: _Fields) -> None:
        for item in query.measures:
            checkpoint()
            if isinstance(item, str) and _REF_RE.match(item):
                ref = self.resolve_measure_ref(item)
                info = self._predefined(ref)
            else:
                spec = item if isinstance(item, AdHocMeasure) else AdHocMeasure(expr=item)
                ref, info = self._adhoc(spec)
                if ref.field in fields.adhoc and fields.adhoc[ref.field] != ref:
                    raise RejectedError(f"two query measures are named '{ref.field}'; name them apart with {{name, expr}}")
                fields.adhoc[ref.field] = ref
            if ref not in fields.infos:
                fields.measures.append(ref)
                fields.infos[ref] = info

    def resolve_filters(self, query: Query, fields: _Fields) -> None:
        """Row-level filters (on columns) and filters on measures (applied to the final result)."""
        for text in query.filters:
            checkpoint()
            f = self._filter(text, fields.adhoc)
            if any(r.kind != "column" for r in f.refs.values()):
                for r in f.refs.values():
                    if r.kind == "column" and fields.dim_index(r) is None:
                        raise RejectedError(
                            f"filter '{text}' compares a measure with '{r.ref}', which is not among the query's "
                            f"dimensions ({known([d.ref for d in fields.dims])})"
                        )
                    if r.kind == "measure" and r not in fields.infos:
                        fields.hidden.append(r)
                        fields.infos[r] = self._predefined(r)
                fields.post_filters.append(f)
            else:
                f.node = self._replace(f.node, f.refs, lambda r: self._column(r).sql_node())
                fields.row_filters.append(f)

    def apply_segments(self, query: Query, fields: _Fields) -> None:
        """Each measure's form with the query's segments on its source applied."""
        seg_preds: Dict[str, List[exp.Expression]] = {}
        for text in query.segments:
            qualifier, name = self._split(text, "segment")
            if qualifier is None:
                raise RejectedError(f"segment '{text}' must be source.segment (e.g. orders.paid)")
            src = self._source(qualifier, f"segment '{text}'")
            if name not in src.segments:
                raise RejectedError(
                    f"unknown segment '{text}'; known segments of {qualifier}: {known(list(src.segments))}"
                )
            seg_preds.setdefault(src.name, []).append(src.segments[name].node.copy())
        for source_name in seg_preds:
            if not any(m.source == source_name for m in fields.all_measures):
                raise RejectedError(
                    f"segment(s) on '{source_name}' apply to measures of {source_name}, and the query has none"
                )
        for m in fields.all_measures:
            predicate = and_all(*seg_preds.get(m.source, []))
            if predicate is not None:
                self.budget.charge(len(fields.infos[m].form.calls) * tree_size(predicate))
            fields.forms[m] = fields.infos[m].form.filtered(predicate)

    # ------------------------------------------------------------------ step 2: group measures by grain
    def group_measures(self, fields: _Fields) -> List[_Group]:
        """The measures grouped by the source that owns them (its grain), in order of first appearance."""
        groups: Dict[str, _Group] = {}
        for m in fields.all_measures:
            groups.setdefault(m.source, _Group(m.source)).measures.append(m)
        if len(groups) > limits.MAX_QUERY_MEASURE_SOURCES:
            raise limits.LimitError(
                f"the query has measures of {len(groups):,} sources; the limit is {limits.MAX_QUERY_MEASURE_SOURCES:,}"
            )
        return list(groups.values())

    # ------------------------------------------------------------------ step 3: build each group
    def build_groups(self, fields: _Fields, groups: List[_Group]) -> _Ctes:
        """Each group's join path, rows CTE and aggregate CTE."""
        for group in groups:
            checkpoint()
            group.edges = self._path(group, fields)
        joins = sum(len(g.edges) for g in groups)
        if joins > limits.MAX_QUERY_JOINS:
            raise limits.LimitError(
                f"the query needs {joins:,} joins ({len(groups):,} measure source{'s' if len(groups) > 1 else ''}, each joined along its path to "
                f"the sources of the dimensions and filters); the limit is {limits.MAX_QUERY_JOINS:,}"
            )
        out = _Ctes()
        for group in groups:
            checkpoint()
            rows, args = self._rows_cte(group, fields)
            for e in group.edges:
                if not any(p.parent == e.parent and p.child == e.child for p in out.plan_edges):
                    out.plan_edges.append(e)
            for name in [group.root] + [e.child for e in group.edges]:
                if name not in out.sources_used:
                    out.sources_used.append(name)
            if group.fanout:
                src = self.model.sources[group.root]
                out.fanouts.append(
                    f"{group.fanout}: {group.root} rows are de-duplicated over its grain ({', '.join(src.grain)}) before "
                    f"aggregating {', '.join(m.ref for m in group.measures)}"
                )
            out.ctes.append((group.rows_name, rows))
            out.ctes.append((group.agg_name, self._agg_cte(group, fields, args)))
        # the sources on the join paths too: a broken grain or join would give wrong numbers
        self.model.check_usable(out.sources_used)
        return out

    # ------------------------------------------------------------------ step 4: join groups
    def join_groups(self, fields: _Fields, groups: List[_Group], ctes: _Ctes) -> Tuple[exp.Select, _Output]:
        """The final SELECT: the groups' aggregates side by side (through ``ktx_spine`` when there
        are dimensions), named, and filtered on measures."""
        out = _Output(fields, groups)
        dims = fields.dims
        if dims and out.multi:
            spine: Optional[exp.Expression] = None
            for group in groups:
                part = exp.select(*[exp.column(c, table=group.agg_name) for c in fields.dim_cols]).from_(
                    exp.to_table(group.agg_name), copy=False
                )
                spine = part if spine is None else exp.union(spine, part, distinct=True, copy=False)
            ctes.ctes.append(("ktx_spine", spine))

        select_items = [exp.alias_(out.dim_ref(i), out.aliases[i]) for i in range(len(dims))]
        select_items += [exp.alias_(out.msr_ref(m), out.aliases[len(dims) + i]) for i, m in enumerate(fields.measures)]
        final = exp.select(*select_items).from_(exp.to_table(out.dim_source), copy=False)
        if dims and out.multi:
            for group in groups:
                cond = exp.and_(
                    *[_null_safe_eq(exp.column(c, table="ktx_spine"), exp.column(c, table=group.agg_name)) for c in fields.dim_cols]
                )
                _join(final, exp.to_table(group.agg_name), on=cond, side="LEFT")
        elif out.multi:
            for group in groups[1:]:
                _join(final, exp.to_table(group.agg_name), kind="CROSS")

        for f in fields.post_filters:
            final.where(
                self._replace(f.node, f.refs, lambda r: out.dim_ref(fields.dim_index(r)) if r.kind == "column" else out.msr_ref(r)),  # type: ignore[arg-type]
                copy=False,
            )
        return final, out

    # ------------------------------------------------------------------ step 5: order and limit
    def order_and_limit(self, query: Query, final: exp.Select, out: _Output) -> None:
        for ob in query.order_by:
            key = self._order_key(ob.field, out)
            final.order_by(exp.Ordered(this=key, desc=ob.descending), copy=False)
        if query.limit is not None:
            final.limit(query.limit, copy=False)

    # ------------------------------------------------------------------ the answer
    @staticmethod
    def output_columns(fields: _Fields) -> List[Dict[str, Any]]:
        columns: List[Dict[str, Any]] = []
        for d in fields.dims:
            columns.append(
                {"name": d.ref, "provenance": "dimension", "expr": d.ref, "description": None, "granularity": d.granularity}
            )
        for m in fields.measures:
            info = fields.infos[m]
            columns.append(
                {"name": m.ref, "provenance": info.provenance, "expr": info.expr, "description": info.description, "granularity": None}
            )
        return columns

    @staticmethod
    def plan(query: Query, fields: _Fields, groups: List[_Group], ctes: _Ctes, out: _Output) -> Dict[str, Any]:
        def cols(e: Edge) -> Tuple[str, str]:
            return ", ".join(p for p, _ in e.pairs), ", ".join(c for _, c in e.pairs)

        return {
            "sources_used": sorted(ctes.sources_used),
            "join_paths": [
                " AND ".join(f"{e.parent}.{p} = {e.child}.{c}" for p, c in e.pairs) + f" ({e.relationship})"
                for e in ctes.plan_edges
            ],
            "joins": [
                {
                    "from_source": e.parent,
                    "to_source": e.child,
                    "from_column": cols(e)[0],
                    "to_column": cols(e)[1],
                    "relationship": e.relationship,
                }
                for e in ctes.plan_edges
            ],
            "anchor_source": groups[0].root,
            "anchor_grain": [d.ref for d in fields.dims],
            "has_fan_out": bool(ctes.fanouts),
            "fan_out_description": "; ".join(ctes.fanouts) if ctes.fanouts else "no fan-out: every join path is many_to_one or one_to_one",
            "measure_groups": [{"source_name": g.root, "measures": [m.ref for m in g.measures]} for g in groups],
            "where_filters": [f.text for f in fields.row_filters],
            "having_filters": [f.text for f in fields.post_filters],
            "order_by": [{"field": ob.field, "direction": ob.direction} for ob in query.order_by],
            "limit": query.limit,
            "include_empty": query.include_empty,
            "output_columns": out.aliases,
        }

    def _dimension(self, spec: DimensionSpec) -> FieldRef:
        ref = self.resolve_column_ref(spec.field, f"dimension '{spec.field}'")
        if spec.granularity is None:
            return ref
        if spec.granularity not in GRANULARITIES:
            raise RejectedError(
                f"unknown granularity '{spec.granularity}' for {ref.ref}; known: {', '.join(GRANULARITIES)}"
            )
        column = self._column(ref)
        if column.type != "time":
            raise RejectedError(
                f"granularity '{spec.granularity}' needs a time column; {ref.ref} is of type {column.type}"
            )
        return FieldRef(ref.source, ref.field, "column", spec.granularity)

    def _order_key(self, text: str, out: _Output) -> exp.Expression:
        """The expression an order_by item sorts on: an output column, a dimension or a measure of the query."""
        fields, aliases = out.fields, out.aliases
        dims, all_measures, dim_index = fields.dims, fields.all_measures, fields.dim_index
        name = text.strip()
        ref: Optional[FieldRef] = None
        if name in aliases:
            ref = out.outputs[aliases.index(name)]
        elif name in fields.adhoc:
            ref = fields.adhoc[name]
        else:
            qualifier, field = self._split(name, "order_by")
            if qualifier is None:
                found = self._bare(field, ("column",)) + self._bare(field, ("measure",))
                if len(found) > 1:
                    in_query = [f for f in found if f in all_measures or (f.kind == "column" and dim_index(f) is not None)]
                    if len(in_query) != 1:
                        raise self._ambiguous(field, found)
                    found = in_query
                if not found:
                    raise RejectedError(
                        f"cannot order by '{text}': not an output column ({known(aliases)}) nor a field"
                    )
                ref = found[0]
            else:
                src = self._source(qualifier, f"order_by '{text}'")
                if field in src.measures and FieldRef(src.name, field, "measure") in all_measures:
                    ref = FieldRef(src.name, field, "measure")
                elif field in src.columns:
                    ref = FieldRef(src.name, field, "column")
                elif field in src.measures:
                    ref = FieldRef(src.name, field, "measure")
                else:
                    raise RejectedError(
                        f"cannot order by '{text}': unknown field; known fields of {qualifier}: "
                        f"{known(list(src.columns) + list(src.measures))}"
                    )
        if ref.kind == "column":
            i = dims.index(ref) if ref in dims else dim_index(ref)
            if i is None:
                raise RejectedError(
                    f"cannot order by '{text}': it is not among the query's dimensions ({known([d.ref for d in dims])})"
                )
            return out.dim_ref(i)
        if ref not in all_measures:
            raise RejectedError(
                f"cannot order by '{text}': it is not among the query's measures "
                f"({known([m.ref for m in all_measures])})"
            )
        return out.msr_ref(ref)

    def _path(self, group: _Group, fields: _Fields) -> List[Edge]:
        """The join steps from the group's source to every source the dimensions and row filters need."""
        root = group.root
        parent, order = self._bfs(root)
        needed: List[str] = []
        measure_names = ", ".join(m.ref for m in group.measures)

        def need(name: str, why: str) -> None:
            if name in needed:
                return
            if name != root and name not in parent:
                raise RejectedError(
                    f"no join path from '{root}' to '{name}' (needed for {why}); declare a join between them"
                )
            needed.append(name)

        for d in fields.dims:
            need(d.source, f"{measure_names} by {d.ref}")
        for f in fields.row_filters:
            for r in f.refs.values():
                need(r.source, f"{measure_names} filtered on {r.ref}")

        on_path = {root}
        for name in needed:
            node = name
            while node != root:
                on_path.add(node)
                node = parent[node].parent  # type: ignore[union-attr]
        return [parent[n] for n in order if n in on_path and n != root]  # type: ignore[misc]

    def _rows_cte(self, group: _Group, fields: _Fields) -> Tuple[exp.Select, Dict[exp.Expression, str]]:
        """The group's rows CTE (its source joined along its path, one column per dimension and per
        distinct aggregate argument) and the name of each argument's column; sets ``group.fanout``."""
        src = self.model.sources[group.root]
        fanning = [e for e in group.edges if e.relationship == "one_to_many"]
        group.fanout = ", ".join(f"{e.parent} -> {e.child} is one_to_many" for e in fanning)

        cols: List[exp.Expression] = []
        if fanning:
            for i, key in enumerate(src.grain):
                cols.append(exp.alias_(src.columns[key].sql_node(), f"key_{i}"))
        for i, d in enumerate(fields.dims):
            node = self._column(d).sql_node()
            if d.granularity:
                node = truncate_time(node, d.granularity, self.target)
            cols.append(exp.alias_(node, f"dim_{i}"))
        # one rows column per distinct (filtered) aggregate argument
        args: Dict[exp.Expression, str] = {}  # sqlglot expressions compare (and hash) by structure
        for m in group.measures:
            for call in fields.forms[m].calls:
                value = self._row_value(call.arg, call.filter)
                if value is None:
                    continue
                if value not in args:
                    args[value] = f"arg_{len(args)}"
                    cols.append(exp.alias_(value, args[value], copy=False))
        if not cols:
            cols.append(exp.alias_(exp.Literal.number(1), "one"))

        sel = exp.select(*cols).from_(src.from_item(), copy=False)
        if fanning:
            sel.distinct(copy=False)
        for e in group.edges:
            child = self.model.sources[e.child]
            parent_src = self.model.sources[e.parent]
            cond = exp.and_(
                *[parent_src.columns[p].sql_node().eq(child.columns[c].sql_node()) for p, c in e.pairs]
            )
            _join(sel, child.from_item(), on=cond, side="LEFT")
        for f in fields.row_filters:
            sel.where(f.node.copy(), copy=False)
        return sel, args

    @staticmethod
    def _row_value(arg: Optional[exp.Expression], predicate: Optional[exp.Expression]) -> Optional[exp.Expression]:
        """The rows-CTE value an aggregate reads: the argument, only where the predicate holds."""
        if predicate is None:
            return None if arg is None else arg.copy()
        then = exp.Literal.number(1) if arg is None else arg.copy()
        return exp.Case(ifs=[exp.If(this=predicate.copy(), true=then)])

    def _agg_cte(self, group: _Group, fields: _Fields, args: Dict[exp.Expression, str]) -> exp.Select:
        """The group's aggregates over its rows CTE, combined into each measure's value, by the dimensions."""
        rows_name, dim_cols = group.rows_name, fields.dim_cols
        cols: List[exp.Expression] = [exp.column(c, table=rows_name) for c in dim_cols]
        for m in group.measures:
            form = fields.forms[m]
            aggs: List[exp.Expression] = []
            for call in form.calls:
                value = self._row_value(call.arg, call.filter)
                ref = None if value is None else exp.column(args[value], table=rows_name)
                aggs.append(_aggregate(call.func, ref))

            def put(n: exp.Expression) -> exp.Expression:
                if isinstance(n, exp.Placeholder):
                    return aggs[int(n.name[1:])].copy()
                return n

            value_node = put(form.template) if isinstance(form.template, exp.Placeholder) else form.template.transform(put)
            cols.append(exp.alias_(value_node, fields.msr_col[m]))
        sel = exp.select(*cols).from_(exp.to_table(rows_name), copy=False)
        if dim_cols:
            sel.group_by(*[exp.column(c, table=rows_name) for c in dim_cols], copy=False)
        return sel


def compile_query(model: Model, query: Query, dialect: str) -> Compiled:
    return Planner(model).compile(query, dialect)
