"""The INSi protocol layer: building, signing and parsing INSi SOAP messages.

Nothing here does I/O: :mod:`gateway.transport` moves the bytes.
"""
