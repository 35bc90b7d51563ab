"""A submission's rows wait in a private temporary file until the body has been read and checked.

Rows are streamed from the request (memory stays flat), but the transaction
that creates the job must not stay open while a slow or large body is read:
on SQLite it would hold the database's only write lock for that long, and the
audit journal of every interactive call would time out behind it. So the rows
are first written, one JSON line each, to an anonymous file (created 0600 and
already unlinked: no other process can open it, nothing is left after a
crash); a refused body (too large, too many rows, unreadable) fails here,
before any database write. Only then does the one transaction insert them.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

from gateway.jobs import NewRow


def spooled(rows: Iterable[NewRow]) -> Iterator[NewRow]:
    """Consume ``rows`` now (every check runs), then give them back from the file."""
    handle = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - closed by the reader below
    try:
        for row in rows:
            line = json.dumps(dataclasses.asdict(row), separators=(",", ":"), ensure_ascii=False)
            handle.write(line.encode() + b"\n")
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return _read_back(handle)


def _read_back(handle: IO[bytes]) -> Iterator[NewRow]:
    with handle:
        for line in handle:
            yield NewRow(**json.loads(line))
