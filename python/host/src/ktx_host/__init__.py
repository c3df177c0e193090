"""ktx_host: the runtime host that serves a payload's ASGI app with the toolchain's guarantees.

``python -I -m ktx_host serve-http ...`` runs the daemon (``ktx_host.serve``);
``python -I -m ktx_host check`` is the install check (``ktx_host.check``). The payload is
named by ``payload.json`` beside this file (``ktx_host.payload``). Nothing is imported here,
so that ``check`` never pays for uvicorn.
"""
