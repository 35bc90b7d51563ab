"""The INSi client: envelopes built from the WSDL with zeep, sent through a transport.

It sits above :mod:`gateway.transport` as ``zeep.Client`` sits above
``zeep/transports.py``: the transport only moves bytes.
"""
