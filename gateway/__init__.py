"""insi-gateway: one shared gateway between hospital applications and the INSi teleservice.

Packages follow the protocol layers:

- :mod:`gateway.protocol`: building, signing and parsing INSi SOAP messages;
- :mod:`gateway.transport`: mutual TLS toward the teleservice, timeouts, the zeep client;
- :mod:`gateway.interfaces`: the local JSON (and later SOAP) adapters over :mod:`gateway.service`;
- :mod:`gateway.pki`: establishment credentials and the development PKI;
- :mod:`gateway.mock`: our own mock of the national teleservice.
"""

__version__ = "0.1.0"
