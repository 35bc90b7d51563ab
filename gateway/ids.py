"""Random identifiers of the request path (message ids, assertion ids, trace and span ids).

Each one is made from the operating system's CSPRNG, as ``uuid.uuid4()`` and
``secrets.token_hex()`` do, but the bytes are read 4 KiB at a time instead
of 16 at a time: ``os.urandom`` releases the GIL for its system call, and
seven of them per search made seven GIL hand-offs (each a context switch
under load) for 112 random bytes. These identifiers must be unique and
unguessable by a caller, not secret: keys and passwords keep using
:mod:`secrets` directly.

The buffer is per process and emptied in a child after ``fork``, so two
gunicorn workers never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Final

_REFILL: Final = 4096


class _RandomPool:
    """Bytes from ``os.urandom``, read in blocks, handed out once each, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._used = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._used + n > len(self._buffer):
                self._buffer, self._used = os.urandom(max(_REFILL, n)), 0
            start, self._used = self._used, self._used + n
            return self._buffer[start : self._used]

    def forget(self) -> None:
        """After ``fork``: the parent's unused bytes must not be used by the child too."""
        self._lock = threading.Lock()
        self._buffer, self._used = b"", 0


_pool = _RandomPool()
os.register_at_fork(after_in_child=_pool.forget)


def random_uuid() -> uuid.UUID:
    """A version 4 UUID, as ``uuid.uuid4()``."""
    return uuid.UUID(bytes=_pool.take(16), version=4)


def random_hex(nbytes: int) -> str:
    """``nbytes`` random bytes in hex, as ``secrets.token_hex(nbytes)``."""
    return _pool.take(nbytes).hex()


def new_message_id() -> str:
    """A ``wsa:MessageID``: ``uuid:<uuid4>``."""
    return f"uuid:{random_uuid()}"
