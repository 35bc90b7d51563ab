"""Local interfaces offered to hospital applications: thin adapters over :mod:`gateway.service`."""
