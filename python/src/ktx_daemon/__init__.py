"""ktx-daemon: KTX's daemon protocol as one-shot JSON ops and an ASGI app the runtime host serves."""

from __future__ import annotations


def __getattr__(name: str):
    # Lazy so that one-shot ops do not pay for importlib.metadata.
    if name == "__version__":
        from ._version import __version__

        return __version__
    raise AttributeError(name)
