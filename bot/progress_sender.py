"""Check-run progress sent from a background thread, so that the analysis never waits
for GitHub between its stages.

The GitHub client spaces its writes (a second apart, as GitHub asks integrators
to), so a progress update sent inline costs each stage up to a second. A
`ProgressSender` takes each text at once and sends it from its own thread; a text
that arrives while another is on its way replaces any text still waiting
(coalescing: the check run shows the latest stage, not a backlog). A failed update
is logged and forgotten, and a rate limit pauses the updates until it resets:
progress is cosmetic, the analysis goes on either way.

`close()` returns only once nothing of this sender is in flight, so a caller that
completes the check run afterwards can never have it overwritten by a stale
"in progress" update. Until then the sender's thread is the only user of the
sink's GitHub client (PyGithub's connection carries one request at a time): the
caller makes no GitHub request through that client between starting the sender
and closing it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol

from provenfix.bot.github_api import GitHubError, RateLimited

__all__ = ["ProgressSender", "ProgressSink"]

log = logging.getLogger("provenfix.progress")

DEFAULT_RATE_LIMIT_PAUSE_S = 60.0
MAX_RATE_LIMIT_PAUSE_S = 900.0


class ProgressSink(Protocol):
    """Where progress goes: bot.publish.Publisher (or a job's PublisherLike)."""

    def progress(self, check_run_id: int, text: str) -> None: ...


class ProgressSender:
    """Sends the progress of check run `check_run_id` to `sink` from a background thread.

    Use it as a context manager: leaving the block normally sends the text still
    waiting, leaving it with an exception drops it (the check run is about to say
    why the analysis stopped); either way the block ends only once no update is in
    flight."""

    def __init__(self, sink: ProgressSink, check_run_id: int, *, label: str = "") -> None:
        self._sink = sink
        self._check_run_id = check_run_id
        self._label = label or f"check run {check_run_id}"  # names the job in the log
        self._changed = threading.Condition()
        self._pending: str | None = None
        self._closing = False
        self._resume_at = 0.0  # time.monotonic() before which a rate limit holds updates
        self._thread = threading.Thread(
            target=self._send_loop, name=f"provenfix-progress-{check_run_id}", daemon=True
        )
        self._thread.start()

    def send(self, text: str) -> None:
        """Show `text` as soon as the sender can, replacing any text still waiting.
        Never blocks on GitHub; after close() it does nothing."""
        with self._changed:
            if self._closing:
                return
            self._pending = text
            self._changed.notify()

    def close(self, *, send_pending: bool = True) -> None:
        """Stop: send the text still waiting (or drop it), then wait until the update in
        flight, if any, has been answered. Idempotent."""
        with self._changed:
            if not send_pending:
                self._pending = None
            self._closing = True
            self._changed.notify()
        self._thread.join()

    def __enter__(self) -> ProgressSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close(send_pending=exc_type is None)

    # --- the sender's thread ----------------------------------------------------------

    def _send_loop(self) -> None:
        while (text := self._next_text()) is not None:
            self._deliver(text)

    def _next_text(self) -> str | None:
        """The text to send next, once it may go; None once closed."""
        with self._changed:
            while True:
                if self._pending is not None:
                    wait = self._resume_at - time.monotonic()
                    if wait <= 0:
                        text, self._pending = self._pending, None
                        return text
                    if self._closing:  # still rate-limited: the completion matters more
                        self._pending = None
                        return None
                    self._changed.wait(wait)
                elif self._closing:
                    return None
                else:
                    self._changed.wait()

    def _deliver(self, text: str) -> None:
        try:
            self._sink.progress(self._check_run_id, text)
        except RateLimited as exc:
            pause = _pause_for(exc)
            with self._changed:
                self._resume_at = time.monotonic() + pause
            log.warning("%s: progress paused for %.0f s: %s", self._label, pause, exc)
        except GitHubError as exc:  # its message is redacted (bot.github_api.translate)
            log.warning("%s: progress not shown: %s", self._label, exc)
        except Exception:  # progress is cosmetic: never fail an analysis over it
            log.warning("%s: progress not shown", self._label, exc_info=True)


def _pause_for(limited: RateLimited) -> float:
    if limited.reset_at is None:
        return DEFAULT_RATE_LIMIT_PAUSE_S
    seconds = (limited.reset_at - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 1.0), MAX_RATE_LIMIT_PAUSE_S)
