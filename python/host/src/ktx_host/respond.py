"""How the host answers a request by itself: one JSON body, over ASGI."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, List, Optional, Tuple

Send = Callable[[dict], Awaitable[None]]


async def send_json(send: Send, status: int, content: Any, headers: Optional[List[Tuple[bytes, bytes]]] = None) -> None:
    body = json.dumps(content).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def one_line(text: Any, width: int = 300) -> str:
    """``text`` on one printable line of at most ``width`` characters (a request path may carry
    control characters once percent-decoded)."""
    flat = "".join(c if c.isprintable() else "?" for c in " ".join(str(text).split()))
    return flat if len(flat) <= width else flat[: width - 4] + " ..."
