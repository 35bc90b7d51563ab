"""Admission: whether a request may reach the service core, and when.

The API key and its application (:mod:`.gatekeeper`), CPx card assertions
(:mod:`.cards`), floods of unauthenticated refusals (:mod:`.floods`) and the
per-application quotas, in one process (:mod:`.quotas`) or shared between
replicas through Redis (:mod:`.shared_quotas`, the same admission protocol),
and which front proxies are trusted to name the client (:mod:`.proxies`).
"""
