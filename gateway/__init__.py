"""insi-gateway: one shared gateway between hospital applications and the INSi teleservice.

Packages follow the protocol layers:

- :mod:`gateway.protocol`: building, signing and parsing INSi SOAP messages;
- :mod:`gateway.transport`: mutual TLS toward the teleservice, timeouts, the zeep client;
- :mod:`gateway.interfaces`: the local JSON (and later SOAP) adapters over :mod:`gateway.service`;
- :mod:`gateway.pki`: establishment credentials and the development PKI;
- :mod:`gateway.mock`: our own mock of the national teleservice.
"""

__version__ = "0.1.0"


def docs_reference(page: str) -> str:
    """Where a message sends its reader for ``page`` (e.g. ``configuration.md``).

    A wheel carries no ``docs/``: the published documentation's address is the
    package's ``Project-URL: Documentation`` (``project_urls`` in setup.cfg),
    which a build for a hospital sets; without it, the page of the sources.
    """
    from importlib import metadata

    try:
        urls = metadata.metadata("insi-gateway").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation" and url.strip():
            return f"{url.strip().rstrip('/')}/{page}"
    return f"docs/{page} of the insi-gateway sources"
