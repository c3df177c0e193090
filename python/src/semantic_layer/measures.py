"""Measure analysis: a measure's SQL reduced to its aggregate calls and the expression that
combines them (``MeasureForm``), the measures it uses inlined, its columns substituted.

Used by the model's build (the measures of a source) and by the planner (a query's ad-hoc
measures). Inside an aggregate an identifier is a column, outside it another measure.
"""

from __future__ import annotations

from typing import Callable, List

from sqlglot import exp

from .model_types import AggCall, MeasureForm

_AGG_CLASSES = {exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}

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
