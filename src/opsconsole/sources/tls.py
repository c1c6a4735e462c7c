"""The certificate an https URL is served with, as this host verifies it: its expiry. The
health checks ask it once an hour per URL, doctor once; neither trusts what this host
would not (an untrusted certificate is an error here, as it is to a client)."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime
from urllib.parse import urlsplit


def certificate_expires(url: str, timeout: float = 5.0) -> datetime:
    """When the certificate served at `url` expires. Raises OSError (ssl.SSLError among
    them) when it cannot be reached or verified."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.create_default_context()
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        not_after = tls.getpeercert()["notAfter"]  # type: ignore[index]
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(str(not_after)), UTC)
