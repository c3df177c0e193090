"""What a running daemon knows of itself: what it was started with, its activity, why it stops."""

from __future__ import annotations

import time
from typing import Any, List, Optional, Tuple

from . import lifecycle


class State:
    def __init__(
        self,
        token: str,
        idle_timeout: float,
        state_file: Optional[str],
        log_file: Optional[str],
        wheel_sha256: str,
        reason: str,
        features: List[str],
        version: str,
        packages: Tuple[str, ...],
    ) -> None:
        self.token = token.encode("utf-8")
        self.idle_timeout = idle_timeout
        self.state_file = state_file
        self.log_file = log_file
        self.wheel_sha256 = wheel_sha256
        self.reason = reason
        self.features = features
        self.version = version
        self.packages = packages
        self.started_at = lifecycle.utc_now()
        self.last_activity = time.monotonic()
        self.in_flight = 0
        self.requests = 0
        self.server: Any = None  # the uvicorn.Server, once it exists
        self.exit_reason: Optional[str] = None

    def begin(self) -> None:
        """An authenticated request starts: only those keep the daemon alive."""
        self.last_activity = time.monotonic()
        self.requests += 1
        self.in_flight += 1

    def end(self) -> None:
        self.in_flight -= 1
        self.last_activity = time.monotonic()

    def idle_seconds_left(self) -> Optional[int]:
        if self.idle_timeout <= 0:
            return None
        return max(0, int(self.idle_timeout - (time.monotonic() - self.last_activity)))

    def idle_expired(self) -> bool:
        return (
            self.idle_timeout > 0
            and self.in_flight == 0
            and time.monotonic() - self.last_activity >= self.idle_timeout
        )

    def request_exit(self, reason: str) -> None:
        if self.exit_reason is None:
            self.exit_reason = reason
        if self.server is not None:
            self.server.should_exit = True
