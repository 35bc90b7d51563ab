"""The INS rules: identity traits, the matricule and its key, the search strategy, verdicts.

The domain of identity vigilance has its own room: nothing here knows about
HTTP, SOAP, storage or the transport. Every rule names its official source in
``docs/ins-rules.md``.
"""
