"""The payload the host serves: its declaration, its app factory, and where its code comes from.

``ktx-release`` writes ``payload.json`` into the wheel beside this module::

    {"app": "ktx_daemon.app:create_app", "oneshot": "ktx_daemon",
     "packages": ["ktx_daemon", "semantic_layer"]}

``app`` is ``module:factory`` (the factory is called with no arguments and returns an ASGI
app), ``oneshot`` the module ``python -I -m <oneshot> OP`` runs, ``packages`` the wheel's
top-level packages. A development checkout has no ``payload.json``: the defaults fit KTX's
layout (``ktx_daemon.app:create_app``, one-shot ``ktx_daemon``) and the packages are the app
module's top-level package. The version is the installed distribution's METADATA, never a
flag of the payload.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

DISTRIBUTION = "kaelio-ktx"
DEFAULT_APP = "ktx_daemon.app:create_app"
DEFAULT_ONESHOT = "ktx_daemon"
DECLARATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "payload.json")
HOST_PACKAGE = __name__.partition(".")[0]
REINSTALL = "reinstall the runtime: ktx runtime install --force"


class PayloadError(Exception):
    """The payload cannot be served: its declaration, module or factory is wrong (one line)."""


@dataclass(frozen=True)
class Payload:
    app: str  # module:factory
    oneshot: str  # the module of `python -I -m <oneshot> OP`
    packages: Tuple[str, ...]  # the top-level packages whose origins /health and check report
    declared_in: Optional[str]  # the payload.json read, or None for the defaults


def _dotted(value: Any) -> bool:
    return isinstance(value, str) and all(part.isidentifier() for part in value.split("."))


def _app_spec_ok(value: Any) -> bool:
    if not isinstance(value, str) or value.count(":") != 1:
        return False
    module, _, attr = value.partition(":")
    return _dotted(module) and _dotted(attr)


def top_level(app: str) -> str:
    """The top-level package of ``module:factory``."""
    return app.partition(":")[0].partition(".")[0]


def declaration(path: str = DECLARATION, app: Optional[str] = None) -> Payload:
    """The payload to serve: ``path`` (payload.json) or the defaults, ``app`` overriding its app."""
    if app is not None and not _app_spec_ok(app):
        raise PayloadError(f"--app '{app}' is not MODULE:FACTORY (for example {DEFAULT_APP})")
    try:
        with open(path, "r", encoding="utf-8") as fh:
            raw = fh.read()
    except FileNotFoundError:
        chosen = app or DEFAULT_APP
        return Payload(chosen, DEFAULT_ONESHOT, (top_level(chosen),), None)
    except OSError as exc:
        raise PayloadError(f"cannot read {path}: {exc.strerror or exc}; {REINSTALL}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise PayloadError(f"{path} is not valid JSON ({exc}); {REINSTALL}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"{path} must hold a JSON object; {REINSTALL}")
    declared_app = data.get("app", DEFAULT_APP)
    oneshot = data.get("oneshot", DEFAULT_ONESHOT)
    packages = data.get("packages", [])
    if not _app_spec_ok(declared_app):
        raise PayloadError(f"{path}: 'app' must be \"MODULE:FACTORY\", got {declared_app!r}; {REINSTALL}")
    if not _dotted(oneshot):
        raise PayloadError(f"{path}: 'oneshot' must be a module name, got {oneshot!r}; {REINSTALL}")
    if not isinstance(packages, list) or not all(isinstance(p, str) and p.isidentifier() for p in packages):
        raise PayloadError(f"{path}: 'packages' must be a list of top-level package names; {REINSTALL}")
    chosen = app or declared_app
    names = list(dict.fromkeys([*packages, top_level(chosen)]))
    return Payload(chosen, oneshot, tuple(names), path)


def load_app(spec: str) -> Callable[..., Any]:
    """Import ``module:factory``, call the factory with no arguments, return the ASGI app."""
    module_name, _, attr = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise PayloadError(f"cannot import the payload's app module {module_name}: {type(exc).__name__}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(target, part):
            raise PayloadError(f"the payload's module {module_name} has no {attr} (from {spec})")
        target = getattr(target, part)
    if not callable(target):
        raise PayloadError(f"{spec} is not callable; it must be a factory returning an ASGI app")
    try:
        app = target()
    except Exception as exc:
        raise PayloadError(f"{spec}() failed: {type(exc).__name__}: {exc}") from exc
    if not callable(app):
        raise PayloadError(f"{spec}() returned {type(app).__name__}, not an ASGI app")
    return app


def origin(name: str) -> Optional[str]:
    """The real directory top-level package (or module) ``name`` was imported from; if it is not
    imported yet, where it would be (found without running it); None when it cannot be found."""
    found: Optional[str] = None
    module = sys.modules.get(name)
    if module is not None:
        file = getattr(module, "__file__", None)
        paths = list(getattr(module, "__path__", None) or [])
        found = os.path.dirname(file) if file else (paths[0] if paths else None)
    else:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            locations = list(spec.submodule_search_locations or [])
            if locations:
                found = locations[0]
            elif spec.origin and os.path.isabs(spec.origin):
                found = os.path.dirname(spec.origin)
    return os.path.realpath(found) if found else None


def modules(packages: Tuple[str, ...]) -> Dict[str, Optional[str]]:
    """``{package: real import directory}`` for the host and every payload package."""
    return {name: origin(name) for name in dict.fromkeys((HOST_PACKAGE, *packages))}


def version() -> str:
    """The installed distribution's version, from its METADATA."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as metadata_version

    try:
        return metadata_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"
