"""Semantic layer: wire sources -> checked model -> SQL (sqlglot), plus the SQL helpers KTX needs.

Submodules are imported lazily so that light operations stay fast:
``model`` (sources -> frozen model, cached: the entry points), ``build`` (the build itself),
``wire`` (the wire format's vocabulary and the reporter of its problems), ``model_types`` (the
frozen model), ``measures`` (measure analysis and inlining), ``joins`` (joins and the join
graph), ``query`` (the query's shape), ``planner`` (query -> SQL and plan), ``validate``
(errors and warnings of a model), ``generate`` (sources from scanned tables), ``tables``
(table identifiers), ``expressions`` (sqlglot helpers), ``limits`` (every bound on the inputs,
with its reason), ``cancel`` (cooperative cancellation of one request).
Executing SQL is not this package's job: the ktx CLI runs the SQL it gets back.
"""

from __future__ import annotations

from .errors import MalformedError, RejectedError

__all__ = ["MalformedError", "RejectedError", "__version__"]


def __getattr__(name: str):
    # The distribution's version, read from its metadata: the semantic layer ships beside any
    # ktx_daemon (ours, KTX's, a fixture's), so it never imports one for it.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("kaelio-ktx")
        except PackageNotFoundError:  # pragma: no cover - the package is always installed
            return "0+unknown"
    raise AttributeError(name)
