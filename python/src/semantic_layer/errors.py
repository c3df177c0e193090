"""The two exception types the semantic layer raises for a caller's mistake.

``RejectedError``: a well-formed request that is refused (bad query, bad model, bad SQL).
``MalformedError``: a request of the wrong shape (a caller bug: wrong types, unknown keys).
Anything else escaping the semantic layer is an internal fault. Messages are one line.
"""

from __future__ import annotations


def one_line(text: object) -> str:
    """Collapse a message to one line (newlines and indentation become single spaces)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class _OneLineError(Exception):
    def __init__(self, message: object) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class RejectedError(_OneLineError):
    """A well-formed request that is refused: bad query, bad model, bad SQL."""


class MalformedError(_OneLineError):
    """The request has the wrong shape: not an object, wrong types, unknown keys."""
