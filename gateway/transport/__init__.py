"""Transport toward the teleservice: mutual TLS, timeouts, the zeep client built once per worker."""
