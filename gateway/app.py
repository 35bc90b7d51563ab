"""The app factory: the one place that reads the environment and assembles the gateway.

gunicorn loads :func:`create_app` in each worker after the fork, so
certificates, keys, the TLS session pool and the zeep client are built once
per worker process and never per request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask, Response, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from gateway import logs
from gateway.exceptions import ConfigurationError
from gateway.interfaces import json_api
from gateway.interfaces.soap import soap_wsgi_apps
from gateway.models import CertificateMode, SoftwareIdentity
from gateway.pki.credentials import Credential, load_credential
from gateway.protocol.signing import VihfSigner
from gateway.service import InsService
from gateway.settings import CertificateSource, Settings, SigningMode
from gateway.transport.client import InsiClient
from gateway.transport.resilience import Resilience, ResilientTransport
from gateway.transport.transports import MutualTlsTransport, Transport


def _load(source: CertificateSource, setting: str) -> Credential:
    passphrase = source.passphrase.reveal() if source.passphrase else None
    return load_credential(source.path, passphrase, setting=setting)


def load_credentials(settings: Settings) -> dict[CertificateMode, Credential]:
    """Both establishment credentials, loaded once; each must carry its expected CN."""
    credentials = {CertificateMode.MANU: _load(settings.cert_manu, "INSI_CERT_MANU")}
    if settings.cert_auto is not None:
        credentials[CertificateMode.AUTO] = _load(settings.cert_auto, "INSI_CERT_AUTO")
    return credentials


def build_service(settings: Settings) -> InsService:
    """Assemble credentials, signers, transport and client into the service core."""
    credentials = load_credentials(settings)
    structure_id = credentials[CertificateMode.MANU].organizational_unit
    emitter = settings.emitter or structure_id
    if not emitter or not structure_id:
        raise ConfigurationError(
            "INSI_CERT_MANU", "certificate has no OU (structure id); set INSI_EMITTER"
        )
    resilience = Resilience(settings.resilience)
    transports: dict[CertificateMode, Transport] = {
        mode: ResilientTransport(
            MutualTlsTransport(
                credential,
                ca_bundle=settings.upstream_ca,
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
                max_response_bytes=settings.max_response_bytes,
            ),
            resilience,
        )
        for mode, credential in credentials.items()
    }
    client = InsiClient(
        endpoint=settings.upstream_url,
        transports=transports,
        max_response_bytes=settings.max_response_bytes,
    )
    signers = (
        {mode: VihfSigner(credential) for mode, credential in credentials.items()}
        if settings.signing is SigningMode.VIHF
        else {}
    )
    return InsService(
        client=client,
        signers=signers,
        software=SoftwareIdentity(
            idam=settings.idam,
            name=settings.software_name,
            version=settings.software_version,
            instance=settings.software_instance,
        ),
        emitter=emitter,
        structure_id=structure_id,
        strategy=settings.first_name_strategy,
    )


def create_app(env: Mapping[str, str] | None = None) -> Flask:
    """Build the gateway's WSGI app from ``env`` (default: the process environment)."""
    settings = Settings.from_env(os.environ if env is None else env)
    logs.configure(settings.log_level)
    app = Flask("gateway")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    service = build_service(settings)
    json_api.install(app, service, settings.api_key)
    soap = soap_wsgi_apps(service, settings.api_key, max_body_bytes=settings.max_body_bytes)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, soap)  # type: ignore[method-assign]
    app.add_url_rule("/healthz", "healthz", _healthz)
    app.add_url_rule("/openapi.json", "openapi", _openapi)
    return app


def _healthz() -> Response:
    return jsonify({"status": "ok"})


OPENAPI = Path(__file__).resolve().parent / "interfaces" / "openapi.json"


def _openapi() -> Response:
    """The OpenAPI 3.1 document of the JSON interface (kept in the repo, served as is)."""
    return Response(OPENAPI.read_bytes(), mimetype="application/json")
