"""The local SOAP interface (spyne): a thin adapter over :mod:`gateway.service`, like the JSON one.

Same queries, same service calls, same answers and the same problem table as
``/v1``; only the envelope differs. :func:`soap_wsgi_apps` gives the WSGI apps
the app factory mounts at ``/soap`` (SOAP 1.1) and ``/soap12`` (SOAP 1.2).
"""

from gateway.interfaces.soap.app import soap_wsgi_apps

__all__ = ["soap_wsgi_apps"]
