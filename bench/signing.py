"""Bench scenario 1: the cost of signing one VIHF assertion, against one raw RSA signature.

Same process, same key (the dev ``INSI-MANU`` credential), same run:

- ``raw``: one RSA-2048 PKCS#1 v1.5 SHA-256 signature with ``cryptography`` over a
  payload the size of a canonicalised ``SignedInfo`` (the floor of any XML-DSig);
- ``vihf_signer``: ``VihfSigner.sign`` (key loaded once, as in the gateway) on a
  freshly built assertion each time (``build_assertion`` timed apart, not included);
- ``naive_encrypted_pem``: a new signxml ``XMLSigner`` given the encrypted PEM key
  file and its passphrase every call (the key is decrypted and parsed each time);
- ``naive_clear_pem``: the same with a clear PEM key (parsing only, no KDF);
- ``template_signer``: the prototype fix of ``bench/proto_signer.py`` (not gateway code),
  whose output is first checked with the mock's verifier.

Run: ``.venv/bin/python bench/signing.py --pki DIR [--seconds 4] [--json OUT]``.
Bounded: each case runs at most ``--max-iterations`` times and ``--seconds`` seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402
from signxml.algorithms import (  # noqa: E402
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner  # noqa: E402

from gateway.mock.vihf_check import verify_vihf  # noqa: E402
from gateway.models import CallContext, SoftwareIdentity  # noqa: E402
from gateway.pki.credentials import load_credential  # noqa: E402
from gateway.pki.devpki import generate_dev_pki  # noqa: E402
from gateway.protocol.signing import EXCLUSIVE_C14N, VihfSigner, security_header  # noqa: E402
from gateway.protocol.vihf import build_assertion  # noqa: E402

SOFTWARE = SoftwareIdentity(
    idam="INSI-GW-DEV-IDAM", name="insi-gateway", version="0.1.0", instance="bench"
)


def timed(func: Callable[[], Any], *, seconds: float, max_iterations: int) -> dict[str, float]:
    """Per-call wall times (ms) of ``func``: warm-up 20 calls, then until a bound is hit."""
    for _ in range(20):
        func()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < max_iterations and time.perf_counter() < deadline:
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "n": len(samples),
        "mean_ms": statistics.fmean(samples),
        "median_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pki", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=4.0, help="per case")
    parser.add_argument("--max-iterations", type=int, default=20_000, help="per case")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    pki = generate_dev_pki(args.pki)
    credential = load_credential(pki.insi_manu.p12, pki.passphrase, setting="bench")
    key = credential.private_key
    signer = VihfSigner(credential)
    context = CallContext(request_id="bench", message_id="uuid:bench", user_id="bench-user")
    structure = credential.organizational_unit or "bench"

    def assertion() -> Any:
        return build_assertion(
            issuer=signer.issuer, structure_id=structure, context=context, now=datetime.now(UTC)
        )

    # What signxml actually signs: the exclusive-C14N SignedInfo of one real signature.
    signed = signer.sign(assertion())
    signed_info = signed.find(".//{http://www.w3.org/2000/09/xmldsig#}SignedInfo")
    from lxml import etree

    payload = etree.tostring(signed_info, method="c14n", exclusive=True)

    encrypted_pem = pki.insi_manu.key.read_bytes()
    passphrase = pki.passphrase.encode()
    clear_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = credential.chain_pem.decode()

    def naive(pem: bytes, password: bytes | None) -> Callable[[], Any]:
        def run() -> Any:
            one = assertion()
            return XMLSigner(
                method=SignatureConstructionMethod.enveloped,
                signature_algorithm=SignatureMethod.RSA_SHA256,
                digest_algorithm=DigestAlgorithm.SHA256,
                c14n_algorithm=CanonicalizationMethod(EXCLUSIVE_C14N),
            ).sign(
                one,
                key=pem,
                passphrase=password,
                cert=cert_pem,
                reference_uri="#" + one.get("ID"),
                id_attribute="ID",
            )

        return run

    sys.path.insert(0, str(ROOT / "bench"))
    from proto_signer import TemplateVihfSigner

    template = TemplateVihfSigner(credential)
    public = credential.certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for candidate in (signer, template):  # both must pass the mock's checks
        verify_vihf(
            (security_header(candidate.sign(assertion())),),
            ca_bundle=pki.ca_bundle,
            client_public_key=public,
        )

    prebuilt = [assertion() for _ in range(64)]
    counter = iter(range(10**9))

    def vihf() -> Any:
        return signer.sign(prebuilt[next(counter) % len(prebuilt)])

    def vihf_template() -> Any:
        return template.sign(prebuilt[next(counter) % len(prebuilt)])

    bound = {"seconds": args.seconds, "max_iterations": args.max_iterations}
    results: dict[str, Any] = {
        "payload_bytes": len(payload),
        "raw": timed(
            lambda: key.sign(payload, padding.PKCS1v15(), hashes.SHA256()),  # type: ignore[call-arg,union-attr]
            **bound,
        ),
        "vihf_signer": timed(vihf, **bound),
        "template_signer": timed(vihf_template, **bound),
        "build_assertion": timed(assertion, **bound),
        "naive_encrypted_pem": timed(
            naive(encrypted_pem, passphrase), seconds=args.seconds, max_iterations=2_000
        ),
        "naive_clear_pem": timed(
            naive(clear_pem, None), seconds=args.seconds, max_iterations=5_000
        ),
    }
    raw = results["raw"]["median_ms"]
    for name in ("vihf_signer", "template_signer", "naive_encrypted_pem", "naive_clear_pem"):
        results[name]["ratio_to_raw"] = results[name]["median_ms"] / raw
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return results


if __name__ == "__main__":
    main()
