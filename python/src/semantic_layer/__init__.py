"""Semantic layer: YAML sources, validation, and a sqlglot-backed query planner.

Submodules are imported lazily so that light operations stay fast:
``semantic_layer.model`` (load/validate), ``semantic_layer.planner`` (compile),
``semantic_layer.generate`` (YAML sources from a schema description),
``semantic_layer.tables`` (table identifiers), ``semantic_layer.execute`` (SQLite).
"""

from __future__ import annotations

from .errors import RejectedError

__all__ = ["RejectedError", "__version__"]


def __getattr__(name: str):
    if name == "__version__":
        from ktx_daemon._version import __version__

        return __version__
    raise AttributeError(name)
