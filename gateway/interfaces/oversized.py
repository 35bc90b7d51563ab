"""Refusing an oversized body without breaking the client's keep-alive connection.

gunicorn ignores an application's ``Connection: close`` and, after the
answer, reads at most a little of an unread body before it closes the
connection, while the answer said keep-alive: the client's next request on
that connection then fails. So a refused body is read and dropped first, up
to :data:`DRAIN_LIMIT`; past that, closing is the only sane answer anyway.
"""

from __future__ import annotations

import time
from typing import Any

DRAIN_LIMIT = 16 * 1024 * 1024
DRAIN_SECONDS = 5.0
_CHUNK = 64 * 1024


def drain(environ: dict[str, Any], *, already_read: int = 0) -> None:
    """Read and drop what is left of the body, declared or chunked.

    Bounded in bytes (``DRAIN_LIMIT``) and in time (``DRAIN_SECONDS``): a slow
    client cannot hold the thread; past either bound gunicorn closes anyway.
    """
    declared = environ.get("CONTENT_LENGTH") or ""
    total = int(declared) if declared.isdigit() else DRAIN_LIMIT  # chunked: until its end
    left = min(total, DRAIN_LIMIT) - already_read
    stream = environ["wsgi.input"]
    deadline = time.monotonic() + DRAIN_SECONDS
    while left > 0 and time.monotonic() < deadline:
        try:
            chunk = stream.read(min(_CHUNK, left))
        except Exception:  # a broken chunked body (gunicorn's InvalidChunkSize...): nothing to keep
            return
        if not chunk:
            return
        left -= len(chunk)
