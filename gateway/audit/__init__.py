"""The audit trail: what every teleservice call and every refusal leaves behind.

:mod:`.trail` writes the journal's records (write-ahead intent, then outcome)
and the metrics that go with them; :mod:`.anchoring` logs the journal's head
so that a copy kept elsewhere can prove nothing was rewritten. The journal's
storage and hash chain are in :mod:`gateway.storage`.
"""
