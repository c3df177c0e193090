"""The frozen semantic model: the types ``semantic_layer.build`` makes of the wire sources.

A ``Model`` holds its ``Source``s (columns, measures reduced to ``MeasureForm``s of
``AggCall``s, segments, joins), the join graph as ``Edge``s, and the errors and warnings found
while building it, each error filed under the source it belongs to (``check_usable``). Nothing
here parses the wire: these are the values the builder, the planner and validation share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, Optional, Sequence, Tuple

from sqlglot import exp

from .errors import RejectedError
from .expressions import and_all, display, parse_expression

SHOWN_ERRORS = 10  # a refused query names the first errors of the model, validate lists all



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


def _display_qualified(node: exp.Expression, source: str, dialect: str) -> str:
    """The measure expr with its column references qualified by the source name, for display."""
    copy = node.copy()
    for col in list(copy.find_all(exp.Column)):
        if not col.table:
            col.set("table", exp.to_identifier(source))
    return display(copy, dialect)
