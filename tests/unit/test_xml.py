"""gateway.protocol.xml.parse_xml: the one parser for XML from outside."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.exceptions import XmlRejected
from gateway.protocol.xml import DEFAULT_MAX_BYTES, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol4;</lolz>"""


def test_good_document() -> None:
    root = parse_xml(b'<a xmlns="urn:x"><b>text</b><!-- dropped --></a>')

    assert root.tag == "{urn:x}a"
    assert [child.tag for child in root] == ["{urn:x}b"]
    assert root[0].text == "text"


def test_external_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    payload = f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode()

    with pytest.raises(XmlRejected) as caught:
        parse_xml(payload)
    assert "TOP-SECRET" not in caught.value.message


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(XmlRejected):
        parse_xml(BILLION_LAUGHS)


def test_external_dtd_is_refused() -> None:
    with pytest.raises(XmlRejected):
        parse_xml(b'<!DOCTYPE r SYSTEM "http://example.invalid/r.dtd"><r/>')


def test_size_cap_is_checked_before_parsing() -> None:
    document = b"<r>" + b"x" * 100 + b"</r>"

    assert parse_xml(document, max_bytes=len(document)).tag == "r"
    with pytest.raises(XmlRejected, match="larger than"):
        parse_xml(document, max_bytes=len(document) - 1)


def test_default_size_cap() -> None:
    with pytest.raises(XmlRejected):
        parse_xml(b"<r>" + b"x" * DEFAULT_MAX_BYTES + b"</r>")


@pytest.mark.parametrize("payload", [b"", b"<r>", b"<a></b>", b"plain text"])
def test_malformed_is_refused_without_echo(payload: bytes) -> None:
    with pytest.raises(XmlRejected) as caught:
        parse_xml(payload)
    assert "plain text" not in caught.value.message
