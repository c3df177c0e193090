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

Every identifier is quoted. Snippets are read in the model's dialect and written in the
query's output dialect. The query's own snippets (filters, ad-hoc measures) are held to the
snippet limits of ``semantic_layer.limits``; the planner checks for cancellation
(``semantic_layer.cancel``) at every measure, dimension, filter and measure source.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
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
from .model import Column, Edge, MeasureForm, Model, RefError, Source, analyse_measure, known
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
        target = check_dialect(dialect)
        self.target = target
        if not query.measures:
            raise RejectedError("a query needs at least one measure (e.g. orders.revenue)")

        # measures
        measures: List[FieldRef] = []
        infos: Dict[FieldRef, _MeasureInfo] = {}
        adhoc: Dict[str, FieldRef] = {}
        for item in query.measures:
            checkpoint()
            if isinstance(item, str) and _REF_RE.match(item):
                ref = self.resolve_measure_ref(item)
                info = self._predefined(ref)
            else:
                spec = item if isinstance(item, AdHocMeasure) else AdHocMeasure(expr=item)
                ref, info = self._adhoc(spec)
                if ref.field in adhoc and adhoc[ref.field] != ref:
                    raise RejectedError(f"two query measures are named '{ref.field}'; name them apart with {{name, expr}}")
                adhoc[ref.field] = ref
            if ref not in infos:
                measures.append(ref)
                infos[ref] = info

        # dimensions
        dims: List[FieldRef] = []
        for spec in query.dimensions:
            checkpoint()
            dim = self._dimension(spec)
            if dim not in dims:
                dims.append(dim)

        def dim_index(ref: FieldRef) -> Optional[int]:
            matches = [i for i, d in enumerate(dims) if d.source == ref.source and d.field == ref.field]
            plain = [i for i in matches if dims[i].granularity is None]
            return (plain or matches or [None])[0]

        # filters
        row_filters: List[_Filter] = []
        post_filters: List[_Filter] = []
        hidden: List[FieldRef] = []
        for text in query.filters:
            checkpoint()
            f = self._filter(text, adhoc)
            if any(r.kind != "column" for r in f.refs.values()):
                for r in f.refs.values():
                    if r.kind == "column" and dim_index(r) is None:
                        raise RejectedError(
                            f"filter '{text}' compares a measure with '{r.ref}', which is not among the query's "
                            f"dimensions ({known([d.ref for d in dims])})"
                        )
                    if r.kind == "measure" and r not in infos:
                        hidden.append(r)
                        infos[r] = self._predefined(r)
                post_filters.append(f)
            else:
                f.node = self._replace(f.node, f.refs, lambda r: self._column(r).sql_node())
                row_filters.append(f)
        all_measures = measures + hidden

        # query segments
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
            if not any(m.source == source_name for m in all_measures):
                raise RejectedError(
                    f"segment(s) on '{source_name}' apply to measures of {source_name}, and the query has none"
                )
        forms: Dict[FieldRef, MeasureForm] = {}
        for m in all_measures:
            predicate = and_all(*seg_preds.get(m.source, []))
            if predicate is not None:
                self.budget.charge(len(infos[m].form.calls) * tree_size(predicate))
            forms[m] = infos[m].form.filtered(predicate)

        # group measures by source, in order of first appearance
        groups: Dict[str, List[FieldRef]] = {}
        for m in all_measures:
            groups.setdefault(m.source, []).append(m)
        msr_col = {m: f"msr_{i}" for i, m in enumerate(all_measures)}
        dim_cols = [f"dim_{i}" for i in range(len(dims))]

        ctes: List[Tuple[str, exp.Expression]] = []
        agg_names: Dict[str, str] = {}
        plan_edges: List[Edge] = []
        fanouts: List[str] = []
        sources_used: List[str] = []
        if len(groups) > limits.MAX_QUERY_MEASURE_SOURCES:
            raise limits.LimitError(
                f"the query has measures of {len(groups):,} sources; the limit is {limits.MAX_QUERY_MEASURE_SOURCES:,}"
            )
        paths: Dict[str, List[Edge]] = {}
        for root, items in groups.items():
            checkpoint()
            paths[root] = self._path(root, items, dims, row_filters)
        joins = sum(len(p) for p in paths.values())
        if joins > limits.MAX_QUERY_JOINS:
            raise limits.LimitError(
                f"the query needs {joins:,} joins ({len(paths):,} measure source{'s' if len(paths) > 1 else ''}, each joined along its path to "
                f"the sources of the dimensions and filters); the limit is {limits.MAX_QUERY_JOINS:,}"
            )
        for root, items in groups.items():
            checkpoint()
            rows_name, agg_name = f"ktx_{root}_rows", f"ktx_{root}_agg"
            agg_names[root] = agg_name
            edges = paths[root]
            rows, args, fanout = self._rows_cte(root, items, dims, row_filters, forms, edges)
            for e in edges:
                if not any(p.parent == e.parent and p.child == e.child for p in plan_edges):
                    plan_edges.append(e)
            for name in [root] + [e.child for e in edges]:
                if name not in sources_used:
                    sources_used.append(name)
            if fanout:
                src = self.model.sources[root]
                fanouts.append(
                    f"{fanout}: {root} rows are de-duplicated over its grain ({', '.join(src.grain)}) before "
                    f"aggregating {', '.join(m.ref for m in items)}"
                )
            ctes.append((rows_name, rows))
            ctes.append((agg_name, self._agg_cte(rows_name, items, dim_cols, msr_col, forms, args)))
        # the sources on the join paths too: a broken grain or join would give wrong numbers
        self.model.check_usable(sources_used)

        roots = list(groups)
        multi = len(roots) > 1
        if dims and multi:
            spine: Optional[exp.Expression] = None
            for root in roots:
                part = exp.select(*[exp.column(c, table=agg_names[root]) for c in dim_cols]).from_(
                    exp.to_table(agg_names[root]), copy=False
                )
                spine = part if spine is None else exp.union(spine, part, distinct=True, copy=False)
            ctes.append(("ktx_spine", spine))
            dim_source = "ktx_spine"
        else:
            dim_source = agg_names[roots[0]]

        def dim_ref(i: int) -> exp.Expression:
            return exp.column(dim_cols[i], table=dim_source)

        def msr_ref(m: FieldRef) -> exp.Expression:
            col = exp.column(msr_col[m], table=agg_names[m.source])
            if multi and forms[m].is_count:
                return exp.func("COALESCE", col, exp.Literal.number(0))
            return col

        # output aliases: the field name (dimension with granularity: field_granularity), or
        # source_name when two outputs share a name
        outputs: List[FieldRef] = dims + measures
        bases = [f"{o.field}_{o.granularity}" if o.granularity else o.field for o in outputs]
        aliases: List[str] = []
        for o, base in zip(outputs, bases):
            alias = base if bases.count(base) == 1 else f"{o.source}_{base}"
            candidate, n = alias, 2
            while candidate in aliases:
                candidate, n = f"{alias}_{n}", n + 1
            aliases.append(candidate)

        select_items = [exp.alias_(dim_ref(i), aliases[i]) for i in range(len(dims))]
        select_items += [exp.alias_(msr_ref(m), aliases[len(dims) + i]) for i, m in enumerate(measures)]
        final = exp.select(*select_items).from_(
            exp.to_table(dim_source if dims and multi else agg_names[roots[0]]), copy=False
        )
        if dims and multi:
            for root in roots:
                cond = exp.and_(
                    *[_null_safe_eq(exp.column(c, table="ktx_spine"), exp.column(c, table=agg_names[root])) for c in dim_cols]
                )
                _join(final, exp.to_table(agg_names[root]), on=cond, side="LEFT")
        elif multi:
            for root in roots[1:]:
                _join(final, exp.to_table(agg_names[root]), kind="CROSS")

        for f in post_filters:
            final.where(
                self._replace(f.node, f.refs, lambda r: dim_ref(dim_index(r)) if r.kind == "column" else msr_ref(r)),  # type: ignore[arg-type]
                copy=False,
            )

        order_plan: List[Dict[str, str]] = []
        for ob in query.order_by:
            key = self._order_key(ob.field, aliases, outputs, adhoc, dims, all_measures, dim_index, dim_ref, msr_ref)
            final.order_by(exp.Ordered(this=key, desc=ob.descending), copy=False)
            order_plan.append({"field": ob.field, "direction": ob.direction})

        if query.limit is not None:
            final.limit(query.limit, copy=False)
        for name, cte in ctes:
            final.with_(exp.TableAlias(this=exp.to_identifier(name)), as_=cte, copy=False)
        checkpoint()
        sql = quote_all(final).sql(dialect=target, pretty=True, copy=False)  # the tree is ours alone

        columns: List[Dict[str, Any]] = []
        for d in dims:
            columns.append(
                {"name": d.ref, "provenance": "dimension", "expr": d.ref, "description": None, "granularity": d.granularity}
            )
        for m in measures:
            info = infos[m]
            columns.append(
                {"name": m.ref, "provenance": info.provenance, "expr": info.expr, "description": info.description, "granularity": None}
            )

        def cols(e: Edge) -> Tuple[str, str]:
            return ", ".join(p for p, _ in e.pairs), ", ".join(c for _, c in e.pairs)

        plan = {
            "sources_used": sorted(sources_used),
            "join_paths": [
                " AND ".join(f"{e.parent}.{p} = {e.child}.{c}" for p, c in e.pairs) + f" ({e.relationship})"
                for e in plan_edges
            ],
            "joins": [
                {
                    "from_source": e.parent,
                    "to_source": e.child,
                    "from_column": cols(e)[0],
                    "to_column": cols(e)[1],
                    "relationship": e.relationship,
                }
                for e in plan_edges
            ],
            "anchor_source": roots[0],
            "anchor_grain": [d.ref for d in dims],
            "has_fan_out": bool(fanouts),
            "fan_out_description": "; ".join(fanouts) if fanouts else "no fan-out: every join path is many_to_one or one_to_one",
            "measure_groups": [{"source_name": root, "measures": [m.ref for m in groups[root]]} for root in roots],
            "where_filters": [f.text for f in row_filters],
            "having_filters": [f.text for f in post_filters],
            "order_by": order_plan,
            "limit": query.limit,
            "include_empty": query.include_empty,
            "output_columns": aliases,
        }
        return Compiled(sql=sql, dialect=target, columns=columns, plan=plan)

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

    def _order_key(self, text, aliases, outputs, adhoc, dims, all_measures, dim_index, dim_ref, msr_ref) -> exp.Expression:
        name = text.strip()
        ref: Optional[FieldRef] = None
        if name in aliases:
            ref = outputs[aliases.index(name)]
        elif name in adhoc:
            ref = adhoc[name]
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
            return dim_ref(i)
        if ref not in all_measures:
            raise RejectedError(
                f"cannot order by '{text}': it is not among the query's measures "
                f"({known([m.ref for m in all_measures])})"
            )
        return msr_ref(ref)

    def _path(self, root, items, dims, row_filters) -> List[Edge]:
        """The join steps from ``root`` to every source the dimensions and row filters need."""
        parent, order = self._bfs(root)
        needed: List[str] = []
        measure_names = ", ".join(m.ref for m in items)

        def need(name: str, why: str) -> None:
            if name in needed:
                return
            if name != root and name not in parent:
                raise RejectedError(
                    f"no join path from '{root}' to '{name}' (needed for {why}); declare a join between them"
                )
            needed.append(name)

        for d in dims:
            need(d.source, f"{measure_names} by {d.ref}")
        for f in row_filters:
            for r in f.refs.values():
                need(r.source, f"{measure_names} filtered on {r.ref}")

        on_path = {root}
        for name in needed:
            node = name
            while node != root:
                on_path.add(node)
                node = parent[node].parent  # type: ignore[union-attr]
        return [parent[n] for n in order if n in on_path and n != root]  # type: ignore[misc]

    def _rows_cte(self, root, items, dims, row_filters, forms, edges):
        src = self.model.sources[root]
        fanning = [e for e in edges if e.relationship == "one_to_many"]
        fanout = ", ".join(f"{e.parent} -> {e.child} is one_to_many" for e in fanning)

        cols: List[exp.Expression] = []
        if fanning:
            for i, key in enumerate(src.grain):
                cols.append(exp.alias_(src.columns[key].sql_node(), f"key_{i}"))
        for i, d in enumerate(dims):
            node = self._column(d).sql_node()
            if d.granularity:
                node = truncate_time(node, d.granularity, self.target)
            cols.append(exp.alias_(node, f"dim_{i}"))
        # one rows column per distinct (filtered) aggregate argument
        args: Dict[exp.Expression, str] = {}  # sqlglot expressions compare (and hash) by structure
        for m in items:
            for call in forms[m].calls:
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
        for e in edges:
            child = self.model.sources[e.child]
            parent_src = self.model.sources[e.parent]
            cond = exp.and_(
                *[parent_src.columns[p].sql_node().eq(child.columns[c].sql_node()) for p, c in e.pairs]
            )
            _join(sel, child.from_item(), on=cond, side="LEFT")
        for f in row_filters:
            sel.where(f.node.copy(), copy=False)
        return sel, args, fanout

    @staticmethod
    def _row_value(arg: Optional[exp.Expression], predicate: Optional[exp.Expression]) -> Optional[exp.Expression]:
        """The rows-CTE value an aggregate reads: the argument, only where the predicate holds."""
        if predicate is None:
            return None if arg is None else arg.copy()
        then = exp.Literal.number(1) if arg is None else arg.copy()
        return exp.Case(ifs=[exp.If(this=predicate.copy(), true=then)])

    def _agg_cte(self, rows_name, items, dim_cols, msr_col, forms, args) -> exp.Select:
        cols: List[exp.Expression] = [exp.column(c, table=rows_name) for c in dim_cols]
        for m in items:
            form = forms[m]
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
            cols.append(exp.alias_(value_node, msr_col[m]))
        sel = exp.select(*cols).from_(exp.to_table(rows_name), copy=False)
        if dim_cols:
            sel.group_by(*[exp.column(c, table=rows_name) for c in dim_cols], copy=False)
        return sel


def compile_query(model: Model, query: Query, dialect: str) -> Compiled:
    return Planner(model).compile(query, dialect)
