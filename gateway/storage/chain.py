"""The hash-chain rule of the audit journal, with no database in sight.

Kept apart from :mod:`gateway.storage.audit` so that the rule is stated once
and can check records from anywhere: the live tables or an export.

``hash = sha256(prev_hash + canonical JSON)``, where the canonical JSON holds
every field except ``prev_hash`` and ``hash``, keys sorted, no spaces, ASCII
only, ``matricule_hashes`` as a list; the first record's ``prev_hash`` is
:data:`GENESIS_HASH` (64 zeros). The fields added later (``client``,
``count``, ``ref_seq``, ``ref_hash``, ``identity_status``, ``evidence``) enter
the canonical JSON only when set, so records written before they existed keep
their hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace

from gateway.storage.schema import GENESIS_HASH

__all__ = ["GENESIS_HASH", "AuditRecord", "ChainReport", "ChainWalk", "chain_break"]

OPTIONAL_FIELDS = ("client", "count", "ref_seq", "ref_hash", "identity_status", "evidence")
# The operation of the record a purge leaves behind (``ref_seq``/``ref_hash``: the last purged).
PURGE_OPERATION = "audit-purge"


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
    # Set only on some records (see docs/storage.md): the client address of an
    # aggregated unauthenticated refusal, how many refusals it stands for, and the
    # record this one refers to (the intent an outcome completes, the last purged one).
    client: str | None = None
    count: int | None = None
    ref_seq: int | None = None
    ref_hash: str | None = None
    # An upstream call's outcome: the identity status the answer gave (QUAL, RECUP,
    # CHECK_REQUIRED) and the type of identity document the application attested (PA...).
    identity_status: str | None = None
    evidence: str | None = None

    def computed_hash(self) -> str:
        """The hash this record's content and ``prev_hash`` call for."""
        content: dict[str, object] = {}
        for name in _HASHED:
            value = getattr(self, name)
            if value is None and name in OPTIONAL_FIELDS:
                continue
            content[name] = list(value) if name == "matricule_hashes" else value
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256((self.prev_hash + canonical).encode("ascii")).hexdigest()

    def as_row(self) -> dict[str, object]:
        """The record as a table row: ``matricule_hashes`` joined by spaces.

        Built field by field rather than with ``dataclasses.asdict``, whose
        recursive deep copy cost more than the hash on the append path.
        """
        row = {name: getattr(self, name) for name in _FIELDS}
        row["matricule_hashes"] = " ".join(self.matricule_hashes)
        return row

    def with_hash(self) -> AuditRecord:
        """This record with ``hash`` set by the rule (used when appending)."""
        return replace(self, hash=self.computed_hash())


_FIELDS = tuple(f.name for f in fields(AuditRecord))
# Everything but the two links goes into the canonical JSON.
_HASHED = tuple(name for name in _FIELDS if name not in ("hash", "prev_hash"))


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


class ChainWalk:
    """What :meth:`AuditJournal.verify` knows while walking the chain record by record."""

    def __init__(self, expect: tuple[int, str] | None) -> None:
        self.expect = expect
        self.checked, self.last_hash = 0, GENESIS_HASH
        self.base: tuple[int, str] | None = None  # (seq, hash) the chain starts after, if purged
        self.vouched = False
        self.anchor_seen = False

    def step(self, record: AuditRecord) -> ChainReport | None:
        """None while the chain holds up to ``record``, else the report of the break."""
        if self.checked == 0 and self.base is None and record.seq > 1:
            self.base = (record.seq - 1, record.prev_hash)  # checked in finish()
            self.checked, self.last_hash = self.base
        expected = self.checked + 1
        problem = chain_break(record, expected, self.last_hash)
        if problem is not None:
            broken = min(record.seq, expected)
            return ChainReport(False, self.checked, broken, problem, self.last_hash)
        if record.operation == PURGE_OPERATION and (record.ref_seq, record.ref_hash) == self.base:
            self.vouched = True
        if self.expect is not None and record.seq == self.expect[0]:
            if record.hash != self.expect[1]:
                reason = f"record {record.seq} does not have the anchored hash (rewritten)"
                return ChainReport(False, self.checked, record.seq, reason, self.last_hash)
            self.anchor_seen = True
        self.checked, self.last_hash = record.seq, record.hash
        return None

    def finish(self) -> ChainReport:
        """The report once every record was walked and the head matched."""
        checked, last_hash = self.checked, self.last_hash
        if self.base is not None and not self.vouched:
            reason = f"records 1 to {self.base[0]} are missing and no purge record vouches for them"
            return ChainReport(False, checked, 1, reason, last_hash)
        if self.expect is not None and not self.anchor_seen and self.expect != self.base:
            seq = self.expect[0]
            purged = self.base is not None and seq <= self.base[0]
            where = "was purged (check the export)" if purged else "is not in the journal"
            reason = f"the anchored record {seq} {where}"
            return ChainReport(False, checked, seq, reason, last_hash)
        return ChainReport(True, checked, last_hash=last_hash)
