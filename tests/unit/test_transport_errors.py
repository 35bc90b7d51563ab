"""The transport's one table from the HTTP layer's errors to ours (``ERROR_MAP``).

Expected classes come from what each failure means for a retry: nothing sent
(connect timeout, refused certificate) may be retried; a read timeout's outcome
is unknown.
"""

from __future__ import annotations

import ssl

import pytest
import requests

from gateway.exceptions import UpstreamTimeout, UpstreamUnavailable
from gateway.transport.transports import ERROR_MAP, upstream_error


def _ssl_refused() -> requests.exceptions.SSLError:
    return requests.exceptions.SSLError(ssl.SSLCertVerificationError("certificate verify failed"))


@pytest.mark.parametrize(
    ("raised", "expected", "nothing_sent"),
    [
        (requests.exceptions.ConnectTimeout(), UpstreamUnavailable, True),
        (requests.exceptions.ReadTimeout(), UpstreamTimeout, None),
        (TimeoutError(), UpstreamTimeout, None),
        (_ssl_refused(), UpstreamUnavailable, True),
        (requests.exceptions.SSLError("bad record mac"), UpstreamUnavailable, False),
        (requests.exceptions.ChunkedEncodingError(), UpstreamUnavailable, False),
    ],
)
def test_each_http_error_becomes_ours(
    raised: BaseException, expected: type[Exception], nothing_sent: bool | None
) -> None:
    error = upstream_error(raised)
    assert type(error) is expected
    if nothing_sent is not None:
        assert getattr(error, "nothing_sent", None) is nothing_sent


def test_specific_entries_come_before_their_bases() -> None:
    kinds = [kind for kind, _ in ERROR_MAP]
    for position, kind in enumerate(kinds):
        for later in kinds[position + 1 :]:
            assert not issubclass(later, kind), f"{later.__name__} is shadowed by {kind.__name__}"
