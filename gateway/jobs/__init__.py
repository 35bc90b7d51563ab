"""Durable batch jobs: a hospital re-verifies its whole patient base overnight.

``POST /v1/jobs`` stores every input row in the database; a runner inside each
gateway process claims rows, calls the service core with the ``INSI-AUTO``
certificate, and records each answer with its row in one transaction. See
``docs/jobs.md``. Their settings (``GATEWAY_JOB_*``) are
:class:`gateway.settings.JobSettings`, read with the rest of the gateway's.
"""

from __future__ import annotations

from gateway.storage.job_records import ClaimedRow, JobStatus, NewRow, StoredResult, new_job_id

__all__ = [
    "ClaimedRow",
    "JobStatus",
    "NewRow",
    "StoredResult",
    "new_job_id",
]
