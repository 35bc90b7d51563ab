"""The gateway's output vocabulary: answers and problems as plain documents.

Built once from the core's results (:mod:`.answers`) and errors
(:mod:`.problems`), and used by every interface (JSON, SOAP, FHIR, CLI) and by
the batch jobs' stored results, so none of them renders on its own.
"""
