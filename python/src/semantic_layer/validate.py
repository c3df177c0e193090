"""Validate wire sources: the model's errors and warnings plus model-wide checks (KTX's report shape).

A model over a limit of ``semantic_layer.limits`` is reported like any other error (``valid``
false, the limit named in ``errors``), never raised.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Set

from .cancel import checkpoint
from .model import Model, get_model


def _components(model: Model) -> List[List[str]]:
    seen: Set[str] = set()
    out: List[List[str]] = []
    for start in model.sources:
        checkpoint()
        if start in seen:
            continue
        group, stack = [], [start]
        seen.add(start)
        while stack:
            node = stack.pop()
            group.append(node)
            for nxt in model.graph.get(node, {}):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        out.append(sorted(group))
    return sorted(out, key=lambda g: (-len(g), g[0]))


def validate_sources(sources: Any, dialect: str, recently_touched: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """``{"valid", "errors", "warnings", "per_source_warnings"}`` for the wire sources."""
    model = get_model(sources, dialect)
    errors = list(model.errors)
    warnings: List[str] = []
    per_source: Dict[str, List[str]] = {}
    touched = set(recently_touched) if recently_touched else None

    def add(source: Optional[str], message: str) -> None:
        warnings.append(message)
        if source is not None and (touched is None or source in touched):
            per_source.setdefault(source, []).append(message)

    for source, message in model.warnings:
        add(source, message)

    groups = _components(model)
    if len(groups) > 1:
        shown = "; ".join("[" + ", ".join(g) + "]" for g in groups[:5])
        if len(groups) > 5:
            shown += f"; and {len(groups) - 5} more"
        warnings.append(
            f"the model has {len(groups)} groups of sources without joins between them: {shown}; "
            "a query combining sources of two groups is refused (no join path)"
        )
        for g in groups:
            if len(g) == 1 and touched is not None and g[0] in touched:
                per_source.setdefault(g[0], []).append(
                    f"source '{g[0]}' joins no other source; queries combining it with another source are refused"
                )
    return {"valid": not errors, "errors": errors, "warnings": warnings, "per_source_warnings": per_source}
