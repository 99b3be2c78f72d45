"""Faults the tests arm: the next API requests (all, or those whose 'METHOD /path'
matches) answered with a server error or a rate limit instead of going through."""

from __future__ import annotations

import re
import time
from typing import Any

from .records import DOCS, Injection
from .state import StandInState


class FaultInjection(StandInState):
    """fail_next and rate_limit_next, and taking the armed answer for a request."""

    def fail_next(
        self,
        n: int,
        status: int = 502,
        *,
        match: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next `n` API requests ('METHOD /path' matching `match`) with `status`."""
        answer = body or {"message": "Server Error", "documentation_url": DOCS}
        with self._lock:
            for _ in range(n):
                pattern = re.compile(match) if match else None
                self._injections.append(Injection(status, dict(answer), {}, pattern))

    def rate_limit_next(
        self,
        n: int,
        *,
        status: int = 403,
        retry_after: int | None = 1,
        reset_in: int = 1,
        secondary: bool = False,
        match: str | None = None,
    ) -> None:
        """Rate-limit the next `n` API requests: `x-ratelimit-remaining: 0`, reset, retry-after."""
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again."
            if secondary
            else f"API rate limit exceeded for installation ID {self.installation_id}."
        )
        with self._lock:
            for _ in range(n):
                headers = {
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-used": "5000",
                    "x-ratelimit-resource": "core",
                    "x-ratelimit-reset": str(int(time.time()) + reset_in),
                }
                if retry_after is not None:
                    headers["retry-after"] = str(retry_after)
                self._injections.append(
                    Injection(
                        status,
                        {"message": message, "documentation_url": DOCS},
                        headers,
                        re.compile(match) if match else None,
                    )
                )

    def _take_injection(self, target: str) -> Injection | None:
        for index, injection in enumerate(self._injections):
            if injection.match is None or injection.match.search(target):
                return self._injections.pop(index)
        return None
