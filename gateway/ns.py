"""Every XML namespace URI the gateway speaks, in one place (as zeep's ``ns.py``)."""

from typing import Final

SOAP12_ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"

WSA: Final = "http://www.w3.org/2005/08/addressing"
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML2: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
XML: Final = "http://www.w3.org/XML/1998/namespace"  # xml:lang on SOAP 1.2 Reason/Text

CTXLPS: Final = "urn:siram:lps:ctxlps"
CTXBAM: Final = "urn:siram:bam:ctxbam"
SIRAM: Final = "urn:siram"

INSI_RECSANS: Final = "http://www.cnamts.fr/INSiRecSans"
INSI_RECVIT: Final = "http://www.cnamts.fr/INSiRecVit"
INSI_RESULTAT: Final = "http://www.cnamts.fr/INSiResultat"
INSI_WSDL_TNS: Final = "http://www.cnamts.fr/webservice"

# Prefixes used when the gateway writes XML; parsing never relies on them.
PREFIXES: Final = {
    "soap": SOAP12_ENV,
    "wsa": WSA,
    "wsse": WSSE,
    "saml": SAML2,
    "ds": DS,
    "ctxlps": CTXLPS,
    "ctxbam": CTXBAM,
    "siram": SIRAM,
}


def qname(namespace: str, local: str) -> str:
    """Clark notation ``{ns}local`` as lxml expects it."""
    return f"{{{namespace}}}{local}"
