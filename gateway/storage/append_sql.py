"""The journal's append path at the DB-API level: three statements, built once per backend.

An append is the hot path of every teleservice call (two per call with the
write-ahead journal). Going through SQLAlchemy's statement compiler, cache
lookup and result machinery for each statement cost more CPU than the
statements themselves; these are plain strings built once from the
:mod:`gateway.storage.schema` tables (so the columns are named in one place)
and run on the transaction's own DB-API cursor.

On SQLite the records of a batch go in as **one** JSON parameter, unpacked by
``json_each`` in a single ``INSERT ... SELECT``: Python's ``sqlite3`` releases
and retakes the GIL around every bound parameter, and 17 columns per record
made the journal writer the busiest contender for the GIL of a worker whose
request threads were waiting for it (measured: 36 GIL hand-offs per search,
each one a context switch under load). JSON keeps every value's type
(integer, real, text, null), so the stored row is the row that was hashed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect

from gateway.storage.schema import audit_head, audit_records

_COLUMNS = tuple(column.name for column in audit_records.columns)
# JSON functions are built into SQLite from 3.38; before, the batch is bound column by column.
_SQLITE_HAS_JSON = sqlite3.sqlite_version_info >= (3, 38, 0)


@dataclass(frozen=True, slots=True)
class AppendStatements:
    """Lock-and-read the head, insert records, move the head; in the dialect's paramstyle."""

    read_head: str
    insert_records: str
    move_head: str
    rows_as_json: bool  # SQLite: one JSON array parameter for the whole batch

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> AppendStatements:
        quote = dialect.identifier_preparer.quote
        sqlite = dialect.name == "sqlite"
        as_json = sqlite and _SQLITE_HAS_JSON
        if dialect.paramstyle == "pyformat":

            def param(name: str) -> str:
                return f"%({name})s"

        else:  # sqlite3 takes :name whatever SQLAlchemy's own paramstyle for it

            def param(name: str) -> str:
                return f":{name}"

        head, records = quote(audit_head.name), quote(audit_records.name)
        seq, last_hash = quote("last_seq"), quote("last_hash")
        columns = ", ".join(quote(name) for name in _COLUMNS)
        if as_json:
            unpacked = ", ".join(f"json_extract(value, '$.{name}')" for name in _COLUMNS)
            values = f"SELECT {unpacked} FROM json_each({param('rows')}) ORDER BY key"  # noqa: S608
        else:
            values = "VALUES (" + ", ".join(param(name) for name in _COLUMNS) + ")"
        lock = "" if sqlite else " FOR UPDATE"  # SQLite: BEGIN IMMEDIATE holds the lock
        # Only the schema's own identifiers, quoted by the dialect, enter these strings;
        # every value is a bound parameter.
        return cls(
            read_head=f"SELECT {seq}, {last_hash} FROM {head} WHERE id = 1{lock}",  # noqa: S608
            insert_records=f"INSERT INTO {records} ({columns}) {values}",
            move_head=(
                f"UPDATE {head} SET {seq} = {param('seq')}, {last_hash} = {param('hash')} "  # noqa: S608
                "WHERE id = 1"
            ),
            rows_as_json=as_json,
        )

    def head(self, conn: Connection) -> tuple[int, str]:
        """The locked head (``seq``, ``hash``), in ``conn``'s transaction."""
        cursor = _cursor(conn)
        try:
            cursor.execute(self.read_head)
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            raise LookupError("the audit head row is missing")
        return int(row[0]), str(row[1])

    def write(
        self, conn: Connection, rows: Sequence[dict[str, object]], *, seq: int, last_hash: str
    ) -> None:
        """Insert ``rows``, then move the head to (``seq``, ``last_hash``), in one transaction."""
        cursor = _cursor(conn)
        try:
            if self.rows_as_json:
                packed = json.dumps(rows, separators=(",", ":"), allow_nan=False)
                cursor.execute(self.insert_records, {"rows": packed})
            else:
                cursor.executemany(self.insert_records, rows)
            if cursor.rowcount not in (len(rows), -1):
                raise LookupError(f"{cursor.rowcount} audit records written of {len(rows)}")
            cursor.execute(self.move_head, {"seq": seq, "hash": last_hash})
            if cursor.rowcount != 1:
                raise LookupError("the audit head row is missing")
        finally:
            cursor.close()


def _cursor(conn: Connection) -> Any:
    """A DB-API cursor on the connection SQLAlchemy holds in its transaction."""
    return conn.connection.cursor()
