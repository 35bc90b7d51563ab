"""Establishment credentials and the development PKI.

:mod:`gateway.pki.credentials` loads the INSI-MANU / INSI-AUTO certificate and
key once at startup (PKCS#12 or PEM) and checks certificate chains;
:mod:`gateway.pki.devpki` generates a throw-away IGC-Santé look-alike PKI so
the mock teleservice and the tests can run mutual TLS and VIHF signing without
any real certificate.
"""
