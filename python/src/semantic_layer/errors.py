"""The one exception type for failures that are the user's fault."""

from __future__ import annotations


class RejectedError(Exception):
    """A well-formed request that is refused: bad query, bad model, bad SQL.

    The message is always a single line.
    """

    def __init__(self, message: str) -> None:
        message = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
