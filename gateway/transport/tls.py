"""Mutual TLS toward the teleservice: one ``ssl.SSLContext`` per worker, built from a credential.

``ssl.SSLContext.load_cert_chain`` only reads files, and ``requests`` cannot
take an encrypted key at all. The key therefore goes through an anonymous
in-memory file (``memfd``, never on disk, visible only to this process),
re-encrypted with a one-time random password, and the descriptor is closed
as soon as OpenSSL has read it.
"""

from __future__ import annotations

import os
import secrets
import ssl
from pathlib import Path

from gateway.exceptions import ConfigurationError, CredentialError
from gateway.pki.credentials import Credential


def client_context(credential: Credential | None, *, ca_bundle: Path) -> ssl.SSLContext:
    """Client context: TLS >= 1.2, server checked against ``ca_bundle``, our certificate loaded
    (``credential`` None: server-authenticated TLS only, the CPx endpoint)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError):
        raise CredentialError("INSI_UPSTREAM_CA", "CA bundle cannot be loaded") from None
    if credential is not None:
        _load_client_certificate(context, credential)
    refuse_unsafe(context)
    return context


def refuse_unsafe(context: ssl.SSLContext) -> None:
    """Startup stops rather than talk to the teleservice unverified or below TLS 1.2."""
    if context.verify_mode is not ssl.CERT_REQUIRED or not context.check_hostname:
        raise ConfigurationError("TLS", "verification of the teleservice certificate is off")
    if context.minimum_version < ssl.TLSVersion.TLSv1_2:
        raise ConfigurationError("TLS", "TLS below 1.2 is allowed")


def _load_client_certificate(context: ssl.SSLContext, credential: Credential) -> None:
    password = secrets.token_bytes(32).hex().encode()
    material = credential.chain_pem + credential.private_key_pem(password)
    fd = os.memfd_create("insi-client-credential", os.MFD_CLOEXEC)
    try:
        os.write(fd, material)
        context.load_cert_chain(f"/proc/self/fd/{fd}", password=password)
    except (OSError, ssl.SSLError):
        raise CredentialError(
            "establishment certificate", "cannot be loaded into the TLS layer"
        ) from None
    finally:
        os.close(fd)
