"""Error kinds of the daemon protocol."""

from __future__ import annotations


class MalformedRequest(Exception):
    """The request is not valid JSON or has the wrong shape (exit 1 / HTTP 422)."""

    def __init__(self, message: str) -> None:
        message = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
