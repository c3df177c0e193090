"""Which routes exist: the host's own (``GET /health``, ``POST /shutdown``) and the payload's, read
from its app; a request for anything else is answered here, 404 or 405, naming them.

The payload's routes are read the way Starlette and FastAPI keep them (``app.routes``, each
with ``path``, ``path_regex`` and ``methods``; a mount has no ``methods`` and takes any). An
app whose routes cannot be read gets every request and answers for itself.
"""

from __future__ import annotations

from typing import Any, FrozenSet, List, Optional, Tuple

from .guard import Refusal
from .respond import one_line

HEALTH = "/health"
SHUTDOWN = "/shutdown"
HOST_ROUTES = ((HEALTH, frozenset({"GET"})), (SHUTDOWN, frozenset({"POST"})))


class Route:
    def __init__(self, path: str, regex: Any, methods: Optional[FrozenSet[str]]) -> None:
        self.path = path
        self.regex = regex
        self.methods = methods  # None: any method (a mount)

    def label(self) -> str:
        shown = sorted((self.methods or frozenset({"*"})) - {"HEAD"}) or ["HEAD"]
        return f"{'|'.join(shown)} {self.path}"


def read_routes(app: Any) -> Optional[List[Route]]:
    """The payload app's routes, or None when they cannot be read."""
    found = getattr(app, "routes", None)
    if not isinstance(found, (list, tuple)):
        return None
    out = []
    for route in found:
        path, regex = getattr(route, "path", None), getattr(route, "path_regex", None)
        if not isinstance(path, str) or not hasattr(regex, "match"):
            return None
        methods = getattr(route, "methods", None)
        out.append(Route(path, regex, frozenset(m.upper() for m in methods) if methods else None))
    return out


class Routes:
    def __init__(self, app: Any) -> None:
        self.payload = read_routes(app)
        host = [Route(path, None, methods) for path, methods in HOST_ROUTES]
        shadowed = {path for path, _ in HOST_ROUTES}
        listed = host + [r for r in (self.payload or []) if r.path not in shadowed]
        self.listing = ", ".join(r.label() for r in listed)

    def host_route(self, method: str, path: str) -> bool:
        """Whether the host answers this request itself (405 when the method is wrong)."""
        for route_path, methods in HOST_ROUTES:
            if path == route_path:
                if method not in methods and not (method == "HEAD" and "GET" in methods):
                    raise self._not_allowed(method, path, methods)
                return True
        return False

    def check_payload_route(self, method: str, path: str) -> None:
        """Refuse (404, 405) a request that no payload route takes."""
        if self.payload is None:
            return
        allowed: set = set()
        for route in self.payload:
            if route.regex.match(path):
                if route.methods is None or method in route.methods:
                    return
                allowed |= route.methods
        if allowed:
            raise self._not_allowed(method, path, frozenset(allowed))
        raise Refusal(404, f"unknown route {one_line(method)} {one_line(path)}; routes: {self.listing}")

    @staticmethod
    def _not_allowed(method: str, path: str, methods: FrozenSet[str]) -> Refusal:
        names = ", ".join(sorted(methods))
        return Refusal(
            405,
            f"method {one_line(method)} not allowed on {one_line(path)}; allowed: {names}",
            [(b"allow", names.encode("latin-1"))],
        )
