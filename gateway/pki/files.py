"""Writing key material and certificates to disk without a moment of wider permissions."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Atomically replace ``path``; the temporary file is born with ``mode``, never wider."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(fd, mode)  # the umask may have removed bits
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)
