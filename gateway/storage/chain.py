"""The hash-chain rule of the audit journal, with no database in sight.

Kept apart from :mod:`gateway.storage.audit` so that the rule is stated once
and can check records from anywhere: the live tables or an export.

``hash = sha256(prev_hash + canonical JSON)``, where the canonical JSON holds
every field except ``prev_hash`` and ``hash``, keys sorted, no spaces, ASCII
only, ``matricule_hashes`` as a list; the first record's ``prev_hash`` is
:data:`GENESIS_HASH` (64 zeros).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

from gateway.storage.schema import GENESIS_HASH

__all__ = ["GENESIS_HASH", "AuditRecord", "ChainReport", "chain_break"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """A stored record: the entry with matricules pseudonymised, its place and its hash."""

    seq: int
    time: str
    request_id: str
    message_id: str | None
    app: str | None
    user_id: str | None
    operation: str
    cert_mode: str | None
    outcome: str
    latency_ms: float | None
    matricule_hashes: tuple[str, ...]
    prev_hash: str
    hash: str

    def computed_hash(self) -> str:
        """The hash this record's content and ``prev_hash`` call for."""
        fields = asdict(self)
        del fields["hash"], fields["prev_hash"]
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256((self.prev_hash + canonical).encode("ascii")).hexdigest()

    def with_hash(self) -> AuditRecord:
        """This record with ``hash`` set by the rule (used when appending)."""
        return replace(self, hash=self.computed_hash())


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of :meth:`AuditJournal.verify`.

    ``checked`` counts the records found intact before the first break;
    ``last_hash`` is the hash of the last intact record: keep it outside the
    database (a log line, a ticket) to detect a later rewrite of the whole chain.
    """

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str | None = None
    last_hash: str = GENESIS_HASH


def chain_break(record: AuditRecord, expected_seq: int, prev_hash: str) -> str | None:
    """Why ``record`` does not continue a chain that is intact up to ``expected_seq - 1``."""
    if record.seq > expected_seq:
        return f"record {expected_seq} is missing (the next one is {record.seq})"
    if record.seq != expected_seq:
        return f"unexpected record {record.seq} where {expected_seq} should be"
    if record.prev_hash != prev_hash:
        return f"prev_hash does not match the hash of record {expected_seq - 1}"
    if record.computed_hash() != record.hash:
        return "the record's content does not match its hash (edited)"
    return None
