"""Compile a semantic query into SQL with sqlglot.

Plan (per measure source S, i.e. every source that owns a requested measure):

1. ``ktx_<S>_rows``: S LEFT JOINed along the shortest join paths (BFS) to every source that
   a requested dimension or a row-level filter needs; selects the requested dimensions and
   the measure expressions. When a step of those paths fans S out (one_to_many), the CTE is
   ``SELECT DISTINCT`` and carries S's primary key, so every row of S counts once per
   dimension combination (no double counting).
2. ``ktx_<S>_agg``: aggregates ``ktx_<S>_rows`` grouped by the dimensions.
3. Several measure sources are combined through ``ktx_spine`` (the UNION of their dimension
   values) with LEFT JOINs on NULL-safe equality; without dimensions, by CROSS JOIN of
   one-row aggregates. Filters on measures apply to that final result.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from sqlglot import exp

from .errors import RejectedError
from .expressions import check_dialect, parse_expression, qualify_columns, quote_all
from .model import INVERSE_RELATIONSHIP, Project, Source
from .query import Query, split_ref


@dataclass
class Edge:
    parent: str
    child: str
    relationship: str  # seen from parent to child
    pairs: List[Tuple[str, str]]  # (parent column, child column)


@dataclass
class Compiled:
    sql: str
    dialect: str
    columns: List[str]


def _known(names) -> str:
    names = list(names)
    return ", ".join(names) if names else "(none)"


class Planner:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.read = project.dialect
        self._graph = self._build_graph()
        self._parsed: Dict[Tuple[str, str], exp.Expression] = {}

    # ----------------------------------------------------------------- graph
    def _build_graph(self) -> Dict[str, Dict[str, Edge]]:
        graph: Dict[str, Dict[str, Edge]] = {name: {} for name in self.project.sources}
        for name in sorted(self.project.sources):
            src = self.project.sources[name]
            for j in src.joins:
                if j.to not in graph or j.to == name:
                    continue
                if j.to not in graph[name]:
                    graph[name][j.to] = Edge(name, j.to, j.relationship, list(j.on))
                if name not in graph[j.to]:
                    graph[j.to][name] = Edge(
                        j.to, name, INVERSE_RELATIONSHIP[j.relationship], [(b, a) for a, b in j.on]
                    )
        return graph

    def _bfs(self, root: str) -> Tuple[Dict[str, Optional[Edge]], List[str]]:
        parent: Dict[str, Optional[Edge]] = {root: None}
        order = [root]
        queue = deque([root])
        while queue:
            node = queue.popleft()
            for nxt in sorted(self._graph[node]):
                if nxt not in parent:
                    parent[nxt] = self._graph[node][nxt]
                    order.append(nxt)
                    queue.append(nxt)
        return parent, order

    # ---------------------------------------------------------------- fields
    def _resolve(self, ref: str, kind: Optional[str]) -> Tuple[Source, str, str]:
        src_name, fname = split_ref(ref)
        if src_name not in self.project.sources:
            raise RejectedError(
                f"unknown source '{src_name}' in '{ref}'; known sources: {_known(self.project.sources)}"
            )
        src = self.project.sources[src_name]
        actual = src.field_kind(fname)
        if kind is None:
            if actual is None:
                raise RejectedError(
                    f"unknown field '{ref}'; known fields of {src_name}: "
                    f"{_known(list(src.dimensions) + list(src.measures))}"
                )
            return src, fname, actual
        if actual != kind:
            known = src.measures if kind == "measure" else src.dimensions
            if actual is None:
                raise RejectedError(f"unknown {kind} '{ref}'; known {kind}s of {src_name}: {_known(known)}")
            raise RejectedError(f"'{ref}' is a {actual}, not a {kind}; known {kind}s of {src_name}: {_known(known)}")
        return src, fname, kind

    def _expr(self, src: Source, fname: str) -> exp.Expression:
        """The field's row-level expression, qualified with the source alias."""
        key = (src.name, fname)
        if key not in self._parsed:
            if fname in src.dimensions:
                text = src.dimensions[fname].expr
                what = "dimension"
            else:
                text = src.measures[fname].expr
                what = "measure"
            try:
                node = parse_expression(text, self.read)
            except ValueError as exc:
                raise RejectedError(f"{src.file}: {what} '{src.name}.{fname}': cannot parse expr '{text}': {exc}")
            self._parsed[key] = qualify_columns(node, src.name)
        return self._parsed[key].copy()

    # --------------------------------------------------------------- filters
    def _parse_filter(self, text: str) -> Tuple[exp.Expression, List[Tuple[Source, str, str, exp.Column]]]:
        try:
            node = parse_expression(text, self.read)
        except ValueError as exc:
            raise RejectedError(f"cannot parse filter '{text}': {exc}")
        if not isinstance(node.unnest(), (exp.Predicate, exp.Connector, exp.Not)):
            raise RejectedError(f"filter '{text}' is not a boolean condition (e.g. orders.status = 'completed')")
        refs = []
        for col in list(node.find_all(exp.Column)):
            if col.args.get("db") is not None or col.args.get("catalog") is not None:
                raise RejectedError(f"bad reference '{col.sql()}' in filter '{text}'; use source.field")
            if not col.table:
                hint = " (string literals use single quotes)" if col.this.args.get("quoted") else ""
                raise RejectedError(
                    f"unqualified reference '{col.name}' in filter '{text}'; use source.field "
                    f"(e.g. orders.status){hint}"
                )
            ref = f"{col.table}.{col.name}"
            try:
                src, fname, kind = self._resolve(ref, None)
            except RejectedError as exc:
                raise RejectedError(f"{exc} (in filter '{text}')") from None
            refs.append((src, fname, kind, col))
        if not refs:
            raise RejectedError(f"filter '{text}' references no field; use source.field")
        return node, refs

    # ---------------------------------------------------------------- compile
    def compile(self, query: Query, dialect: Optional[str] = None) -> Compiled:
        target = check_dialect(dialect or self.project.dialect)
        tree, columns = self.build(query)
        sql = quote_all(tree).sql(dialect=target, pretty=True)
        return Compiled(sql=sql, dialect=target, columns=columns)

    def build(self, query: Query) -> Tuple[exp.Select, List[str]]:
        if not query.measures:
            raise RejectedError("a query needs at least one measure (e.g. orders.revenue)")
        if query.limit is not None and query.limit < 0:
            raise RejectedError(f"limit must be >= 0, got {query.limit}")

        measures: List[Tuple[Source, str]] = []
        for ref in query.measures:
            src, fname, _ = self._resolve(ref, "measure")
            if (src, fname) not in measures:
                measures.append((src, fname))
        dims: List[Tuple[Source, str]] = []
        for ref in query.dimensions:
            src, fname, _ = self._resolve(ref, "dimension")
            if (src, fname) not in dims:
                dims.append((src, fname))
        dim_index = {(s.name, f): i for i, (s, f) in enumerate(dims)}

        row_filters: List[Tuple[exp.Expression, list]] = []
        post_filters: List[Tuple[str, exp.Expression, list]] = []
        hidden: List[Tuple[Source, str]] = []
        for text in query.filters:
            node, refs = self._parse_filter(text)
            if any(kind == "measure" for _, _, kind, _ in refs):
                for src, fname, kind, _ in refs:
                    if kind == "dimension" and (src.name, fname) not in dim_index:
                        raise RejectedError(
                            f"filter '{text}' compares a measure with dimension '{src.name}.{fname}', "
                            "which is not among the query's dimensions"
                        )
                    if kind == "measure" and (src, fname) not in measures and (src, fname) not in hidden:
                        hidden.append((src, fname))
                post_filters.append((text, node, refs))
            else:
                row_filters.append((node, refs))

        all_measures = measures + hidden
        msr_col = {(s.name, f): f"msr_{i}" for i, (s, f) in enumerate(all_measures)}
        dim_cols = [f"dim_{i}" for i in range(len(dims))]

        # group measures by their source, in order of first appearance
        groups: Dict[str, List[Tuple[Source, str]]] = {}
        for src, fname in all_measures:
            groups.setdefault(src.name, []).append((src, fname))

        ctes: List[Tuple[str, exp.Expression]] = []
        agg_names: Dict[str, str] = {}
        for root, items in groups.items():
            rows_name, agg_name = f"ktx_{root}_rows", f"ktx_{root}_agg"
            agg_names[root] = agg_name
            ctes.append((rows_name, self._rows_cte(root, items, dims, row_filters, msr_col)))
            ctes.append((agg_name, self._agg_cte(rows_name, items, dim_cols, msr_col)))

        roots = list(groups)
        multi = len(roots) > 1
        if dims and multi:
            spine = None
            for root in roots:
                part = exp.select(*[exp.column(c, table=agg_names[root]) for c in dim_cols]).from_(agg_names[root])
                spine = part if spine is None else exp.union(spine, part, distinct=True)
            ctes.append(("ktx_spine", spine))
            dim_source = "ktx_spine"
        else:
            dim_source = agg_names[roots[0]]

        def dim_ref(i: int) -> exp.Expression:
            return exp.column(dim_cols[i], table=dim_source)

        def msr_ref(src: Source, fname: str) -> exp.Expression:
            col = exp.column(msr_col[(src.name, fname)], table=agg_names[src.name])
            if multi and src.measures[fname].agg in ("count", "count_distinct"):
                return exp.func("COALESCE", col, exp.Literal.number(0))
            return col

        # output aliases: the field name, or source_field when two outputs share a name
        outputs = dims + measures
        short = [f for _, f in outputs]
        aliases: List[str] = []
        for (src, fname) in outputs:
            alias = fname if short.count(fname) == 1 else f"{src.name}_{fname}"
            base, n = alias, 2
            while alias in aliases:
                alias, n = f"{base}_{n}", n + 1
            aliases.append(alias)

        select_items = [exp.alias_(dim_ref(i), aliases[i]) for i in range(len(dims))]
        select_items += [
            exp.alias_(msr_ref(src, fname), aliases[len(dims) + i]) for i, (src, fname) in enumerate(measures)
        ]
        final = exp.select(*select_items).from_(exp.to_table(dim_source) if dims and multi else agg_names[roots[0]])
        if dims and multi:
            for root in roots:
                cond = exp.and_(
                    *[
                        _null_safe_eq(exp.column(c, table="ktx_spine"), exp.column(c, table=agg_names[root]))
                        for c in dim_cols
                    ]
                )
                final = final.join(exp.to_table(agg_names[root]), on=cond, join_type="left")
        elif multi:
            for root in roots[1:]:
                final = final.join(exp.to_table(agg_names[root]), join_type="cross")

        for text, node, refs in post_filters:
            def post(src: Source, fname: str, kind: str) -> exp.Expression:
                if kind == "measure":
                    return msr_ref(src, fname)
                return dim_ref(dim_index[(src.name, fname)])

            final = final.where(_substitute(node, refs, post))

        for ob in query.order_by:
            src, fname, kind = self._resolve(ob.field, None)
            if kind == "dimension":
                if (src.name, fname) not in dim_index:
                    raise RejectedError(
                        f"cannot order by '{ob.field}': it is not among the query's dimensions "
                        f"({_known(s.name + '.' + f for s, f in dims)})"
                    )
                key = dim_ref(dim_index[(src.name, fname)])
            else:
                if (src, fname) not in all_measures:
                    raise RejectedError(
                        f"cannot order by '{ob.field}': it is not among the query's measures "
                        f"({_known(s.name + '.' + f for s, f in measures)})"
                    )
                key = msr_ref(src, fname)
            final = final.order_by(exp.Ordered(this=key, desc=ob.descending))

        if query.limit is not None:
            final = final.limit(query.limit)
        for name, cte in ctes:
            final = final.with_(name, as_=cte)
        return final, aliases

    def _rows_cte(self, root, items, dims, row_filters, msr_col) -> exp.Select:
        root_src = self.project.sources[root]
        needed: List[str] = []

        def need(src_name: str, why: str) -> None:
            if src_name not in needed:
                needed.append(src_name)
                if src_name != root and src_name not in parent:
                    raise RejectedError(
                        f"no join path from '{root}' to '{src_name}' (needed for {why}); "
                        f"declare a join between them in the sources"
                    )

        parent, order = self._bfs(root)
        measure_names = ", ".join(f"{root}.{f}" for _, f in items)
        for src, fname in dims:
            need(src.name, f"{measure_names} by {src.name}.{fname}")
        for _, refs in row_filters:
            for src, fname, _, _ in refs:
                need(src.name, f"{measure_names} filtered on {src.name}.{fname}")

        # the union of the BFS-tree paths root -> needed sources
        on_path = {root}
        for name in needed:
            node = name
            while node != root:
                on_path.add(node)
                node = parent[node].parent
        edges = [parent[n] for n in order if n in on_path and n != root]
        fanout = any(e.relationship == "one_to_many" for e in edges)

        cols: List[exp.Expression] = []
        if fanout:
            if not root_src.primary_key:
                raise RejectedError(
                    f"{root_src.file}: source '{root}' has no primary_key; it is needed to aggregate "
                    f"{measure_names} across the one_to_many join path without double counting"
                )
            for i, key in enumerate(root_src.primary_key):
                cols.append(exp.alias_(exp.column(key, table=root), f"key_{i}"))
        for i, (src, fname) in enumerate(dims):
            cols.append(exp.alias_(self._expr(src, fname), f"dim_{i}"))
        for src, fname in items:
            if src.measures[fname].expr is not None:
                cols.append(exp.alias_(self._expr(src, fname), msr_col[(src.name, fname)]))
        if not cols:
            cols.append(exp.alias_(exp.Literal.number(1), "one"))

        sel = exp.select(*cols).from_(self._table(root_src))
        if fanout:
            sel = sel.distinct()
        for e in edges:
            child = self.project.sources[e.child]
            cond = exp.and_(
                *[exp.column(p, table=e.parent).eq(exp.column(c, table=e.child)) for p, c in e.pairs]
            )
            sel = sel.join(self._table(child), on=cond, join_type="left")
        for node, refs in row_filters:
            sel = sel.where(_substitute(node, refs, lambda src, fname, kind: self._expr(src, fname)))
        return sel

    def _agg_cte(self, rows_name, items, dim_cols, msr_col) -> exp.Select:
        cols: List[exp.Expression] = [exp.column(c, table=rows_name) for c in dim_cols]
        for src, fname in items:
            m = src.measures[fname]
            name = msr_col[(src.name, fname)]
            value = exp.column(name, table=rows_name)
            if m.agg == "count":
                agg = exp.Count(this=exp.Star()) if m.expr is None else exp.Count(this=value)
            elif m.agg == "count_distinct":
                agg = exp.Count(this=exp.Distinct(expressions=[value]))
            elif m.agg == "sum":
                agg = exp.Sum(this=value)
            elif m.agg == "avg":
                agg = exp.Avg(this=value)
            elif m.agg == "min":
                agg = exp.Min(this=value)
            elif m.agg == "max":
                agg = exp.Max(this=value)
            else:  # pragma: no cover - validated when loading
                raise RejectedError(f"unknown agg '{m.agg}' of measure '{src.name}.{fname}'")
            cols.append(exp.alias_(agg, name))
        sel = exp.select(*cols).from_(rows_name)
        if dim_cols:
            sel = sel.group_by(*[exp.column(c, table=rows_name) for c in dim_cols])
        return sel

    def _table(self, src: Source) -> exp.Expression:
        try:
            table = exp.to_table(src.table, dialect=self.read)
        except Exception:
            raise RejectedError(f"{src.file}: source '{src.name}': cannot parse table name '{src.table}'") from None
        table.set("alias", exp.TableAlias(this=exp.to_identifier(src.name)))
        return table


def _null_safe_eq(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Paren(
        this=exp.or_(a.eq(b), exp.and_(exp.Is(this=a.copy(), expression=exp.Null()), exp.Is(this=b.copy(), expression=exp.Null())))
    )


def _substitute(node: exp.Expression, refs, replacement) -> exp.Expression:
    """Copy `node`, replacing each source.field column by replacement(src, fname, kind)."""
    lookup = {(col.table, col.name): (src, fname, kind) for src, fname, kind, col in refs}

    def fn(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and (n.table, n.name) in lookup:
            repl = replacement(*lookup[(n.table, n.name)])
            if not isinstance(repl, (exp.Column, exp.Literal, exp.Func, exp.Paren)):
                repl = exp.Paren(this=repl)
            return repl
        return n

    return node.transform(fn)


def compile_query(project: Project, query: Query, dialect: Optional[str] = None) -> Compiled:
    return Planner(project).compile(query, dialect)
