"""Build the model: the wire ``sources[]`` read, checked and frozen into a ``Model``.

A source on the wire is KTX's resolved SourceDefinition (name, table|sql, grain, columns with
type/role/expr, joins with ``on`` as a SQL string, measures whose ``expr`` holds the aggregate
plus an optional ``filter``, segments). Every SQL snippet is parsed once in the source dialect,
every column reference resolved, every measure reduced to a ``MeasureForm`` (``measures``), the
joins read and the graph built (``joins``). Problems are collected, never raised (``wire.Reporter``).
A model over a size limit of ``semantic_layer.limits`` is one error of no source and is not
built at all; so is one whose measures go over ``MAX_MODEL_MEASURE_NODES`` once inlined (the
build stops there). A snippet over a snippet limit, a measure nesting too deep or holding more
than ``MAX_MEASURE_NODES`` nodes once the measures it uses are inlined, is an error of its
source. The build checks for cancellation (``semantic_layer.cancel``) at every source, column,
measure, segment and join.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from sqlglot import exp

from . import limits
from .cancel import checkpoint
from .errors import MalformedError
from .expressions import and_all, parse_select, parse_table, tree_nesting, tree_size
from .joins import build_graph, read_joins
from .limits import MAX_DEPTH, MAX_MEASURE_NODES, MAX_MODEL_MEASURE_NODES, NodeBudget, NodeLimit, SnippetLimit, clip
from .measures import RefError, analyse_measure, substitute_columns
from .model_types import Column, Measure, MeasureForm, Model, Segment, Source, known
from .wire import (
    COLUMN_KEYS,
    COLUMN_ROLES,
    COLUMN_TYPES,
    MEASURE_KEYS,
    NAME_RE,
    SEGMENT_KEYS,
    SOURCE_KEYS,
    VISIBILITIES,
    Reporter,
    lookup,
    resolve_description,
)

class _Builder(Reporter):
    def __init__(self, raw_sources: List[Any], dialect: str) -> None:
        super().__init__(dialect)
        self.raw = raw_sources
        self.measure_nodes = 0  # the nodes of every measure built so far (MAX_MODEL_MEASURE_NODES)

    # ---------------------------------------------------------------- columns of a source
    def own_column_resolver(self, src_name: str, columns: Dict[str, Column]):
        """Resolve a column reference of a source's own snippet (bare, or qualified by its name)."""

        def column_of(col: exp.Column) -> exp.Expression:
            if col.args.get("db") is not None or col.args.get("catalog") is not None or (
                col.table and col.table != src_name
            ):
                raise RefError(
                    f"'{col.sql()}' is not a column of {src_name}; a source's snippets use its own columns"
                )
            found = lookup(columns, col.name, bool(col.this.args.get("quoted")))
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
        graph = build_graph(sources)
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
        joins = read_joins(self, name, raw, where, columns, drafts)
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

        scope = _MeasureScope(source=name, where=where, columns=columns, segments=segments, items=items)
        for mname in items:
            self.measure(scope, mname)
        return {m: scope.built[m] for m in items if scope.built.get(m) is not None}  # type: ignore[misc]

    def measure(self, scope: "_MeasureScope", mname: str) -> Optional[Measure]:
        """Measure ``mname`` of the scope's source, built once (the measures it uses first)."""
        if mname in scope.built:
            return scope.built[mname]
        checkpoint()
        scope.visiting.append(mname)
        result = None
        try:
            result = self.build_measure(scope, mname)
        finally:
            scope.visiting.pop()
        scope.built[mname] = result
        return result

    def build_measure(self, scope: "_MeasureScope", mname: str) -> Optional[Measure]:
        item, mwhere = scope.items[mname], f"{scope.where}: measure '{mname}'"
        text = self.req_str(item, "expr", mwhere)
        if text is None:
            return None
        node = self.parse(text, mwhere, "expr", allow_count_star=True)
        if node is None:
            return None
        budget = NodeBudget(MAX_MEASURE_NODES)
        try:
            measure = self.measure_form(scope, mname, text, node, budget)
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

    def measure_form(self, scope: "_MeasureScope", mname: str, text: str, node: exp.Expression, budget: NodeBudget) -> Optional[Measure]:
        """The measure of ``text`` (parsed: ``node``): its form, its filter and segments applied;
        every node it copies is charged to ``budget`` first."""
        item, mwhere, name = scope.items[mname], f"{scope.where}: measure '{mname}'", scope.source
        budget.charge(tree_size(node))
        own_column = self.own_column_resolver(name, scope.columns)

        def column_of(col: exp.Column) -> exp.Expression:
            copy = own_column(col)
            budget.charge(tree_size(copy))
            return copy

        used: List[int] = []  # the levels of the measures it uses

        def measure_of(col: exp.Column) -> MeasureForm:
            target = self.used_measure(scope, col)
            used.append(scope.levels[target.name])
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
        scope.levels[mname] = level
        conditions = self.measure_conditions(scope, item, mwhere, column_of)
        if conditions is None:
            return None
        ftext, seg_names, predicate = conditions
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
            filter=ftext,
            segments=seg_names,
            description=resolve_description(item.get("description"), None),
            form=form,
            derived=bool(used),
            source=name,
            dialect=self.dialect,
            size=budget.used,  # counted before copying: at least the form's nodes
        )

    def used_measure(self, scope: "_MeasureScope", col: exp.Column) -> Measure:
        """The measure a derived measure names (built first); RefError when it cannot be used."""
        name = scope.source
        if col.args.get("db") is not None or (col.table and col.table != name):
            raise RefError(f"'{col.sql()}' is not a measure of {name}; a derived measure uses its own source's measures")
        ref = col.name
        if ref not in scope.items:
            if ref in scope.columns:
                raise RefError(f"column '{ref}' is used outside an aggregate (e.g. sum({ref}))")
            raise RefError(f"unknown measure '{ref}'; known measures of {name}: {known(list(scope.items))}")
        if ref in scope.visiting:
            raise RefError(f"circular measure reference {' -> '.join(scope.visiting + [ref])}")
        target = self.measure(scope, ref)
        if target is None:
            raise RefError(f"uses measure '{ref}', which is invalid")
        return target

    def measure_conditions(
        self, scope: "_MeasureScope", item: Dict[str, Any], mwhere: str, column_of: Callable[[exp.Column], exp.Expression]
    ) -> Optional[Tuple[Optional[str], Tuple[str, ...], Optional[exp.Expression]]]:
        """A measure's ``filter`` text, its segment names and the AND of both as a row-level
        predicate (None: none); None (and an error) when one is wrong."""
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
                if s not in scope.segments:
                    self.error(mwhere, f"unknown segment '{s}'; known segments of {scope.source}: {known(list(scope.segments))}")
                    return None
                predicates.append(scope.segments[s].node.copy())
                seg_names.append(s)
        return (ftext if ftext and ftext.strip() else None), tuple(seg_names), and_all(*predicates)


@dataclass
class _MeasureScope:
    """The measures of one source while they are built: what a measure may use."""

    source: str
    where: str  # "source '<name>'", for messages
    columns: Dict[str, Column]
    segments: Dict[str, Segment]
    items: Dict[str, Dict[str, Any]]  # measure name -> its wire object
    built: Dict[str, Optional[Measure]] = field(default_factory=dict)  # None: invalid
    visiting: List[str] = field(default_factory=list)  # the measures being built, outermost first
    levels: Dict[str, int] = field(default_factory=dict)  # 1 for a measure of aggregates, 1 + the deepest it uses


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
