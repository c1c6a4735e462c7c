"""The rate-limit fault of a drill: a burst of calls to an external API with the service's
own key, until the API refuses one. Its quota is spent as a batch job of the service's
without backoff spends it, and the service's own calls are refused (429) until the API's
limit resets. Once sent, calls cannot be taken back: waiting is the fix, as the runbook
says, and the burst leaves nothing open behind it (each call is closed when answered)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opsconsole.drills.fault import FaultRefused

CALL_TIMEOUT_SECONDS = 5.0
NOTHING_TO_UNDO = (
    "nothing to take back: the calls were made; the API takes the key's calls again once "
    "its limit resets (Retry-After)"
)


def api_of(url: str) -> str:
    """The API as it may be shown: host and path, never the query that holds the key."""
    parts = urlsplit(url)
    return f"{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


@dataclass
class ApiBurst:
    url: str
    """With the service's key in it: never recorded, never said."""
    service: str
    count: int

    def record(self) -> dict[str, Any]:
        return {"kind": "api_burst", "api": api_of(self.url)}

    def inject(self) -> str:
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise FaultRefused(f"an api_burst needs an http(s) api_url, not {api_of(self.url)}")
        # Straight to the API, as the runbook's checks go: the quota they read is this one.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        mine = f"of the drill's own to {api_of(self.url)} with the key of {self.service}"
        for made in range(1, self.count + 1):
            try:
                with opener.open(self.url, timeout=CALL_TIMEOUT_SECONDS) as answer:
                    answer.read()
            except urllib.error.HTTPError as refused:
                refused.close()
                if refused.code != 429:
                    raise FaultRefused(
                        f"{_calls(made)} {mine}: the last answered {refused.code}, not 429"
                    ) from None
                wait = refused.headers.get("Retry-After") or "not said"
                return (
                    f"{_calls(made)} {mine}: {made - 1} answered, then 429 (Retry-After: {wait}): "
                    "its quota is spent"
                )
        return (
            f"{_calls(self.count)} {mine}, all answered: its quota is not spent (a larger count?)"
        )

    def undo(self) -> str:
        return NOTHING_TO_UNDO


def _calls(count: int) -> str:
    return f"{count} call{'' if count == 1 else 's'}"
