"""Keep secrets off the screen and out of logs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def redact_url(url: str) -> str:
    """``postgresql://app:s3cret@db:5432/app`` -> ``postgresql://app:***@db:5432/app``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


_SQL_PASSWORD = re.compile(r"(\bPASSWORD\s+)(E?'(?:[^']|'')*'?)", re.IGNORECASE)


def redact_sql(query: str) -> str:
    """``ALTER ROLE app PASSWORD 's3cret'`` -> ``ALTER ROLE app PASSWORD '***'``."""
    return _SQL_PASSWORD.sub(lambda match: f"{match[1]}'{MASK}'", query)
