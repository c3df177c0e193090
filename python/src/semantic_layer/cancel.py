"""Cooperative cancellation of one request: a token its transport sets, checked at safe points.

The HTTP daemon gives every request a ``threading.Event`` (its token) and runs the op with
``run(token, fn, ...)`` in a worker thread; when the client disconnects, the daemon sets the
token. Long loops (the model build per source, column, measure, join and segment; the planner
per measure, dimension, filter and measure source; validation, source generation, table
parsing) call ``checkpoint()``, which raises ``Cancelled`` once the token is set, so the thread
stops within one step instead of computing an answer nobody reads. A checkpoint costs one
context-variable read (about 50 ns); one-shot mode has no token and never cancels.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

_token: "ContextVar[Optional[threading.Event]]" = ContextVar("ktx_cancel_token", default=None)


class Cancelled(Exception):
    """The request was cancelled (its client went away); nobody reads its answer."""

    def __init__(self) -> None:
        super().__init__("the request was cancelled: its client disconnected")


def checkpoint() -> None:
    """Raise ``Cancelled`` when the current request's token is set; otherwise nothing."""
    token = _token.get()
    if token is not None and token.is_set():
        raise Cancelled()


def run(token: threading.Event, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with ``token`` as the current request's cancellation token."""
    reset = _token.set(token)
    try:
        checkpoint()
        return fn(*args)
    finally:
        _token.reset(reset)
