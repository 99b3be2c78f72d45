"""How `provenfix analyze` shows its progress: a live line per stage on a terminal, plain
lines in a pipe or a log.

On a TTY (rich): the stage that runs now with a spinner and its elapsed time, every
finished stage kept above it with how long it took; colour unless NO_COLOR is set (or
the terminal is dumb). Piped: one `[provenfix] stage: text` line per event, as before.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Protocol, TextIO

from provenfix.jobs.progress import ProgressEvent, Stage

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live


class ProgressDisplay(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...

    def close(self) -> None: ...


class Silent:
    def __call__(self, event: ProgressEvent) -> None:
        pass

    def close(self) -> None:
        pass


class PlainLines:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, event: ProgressEvent) -> None:
        print(f"[provenfix] {event}", file=self._stream, flush=True)

    def close(self) -> None:
        pass


class LiveStages:
    """The current stage live (spinner, elapsed seconds), finished ones printed above."""

    def __init__(self, console: Console) -> None:
        from rich.live import Live
        from rich.spinner import Spinner

        self._spinner = Spinner("dots")
        self._console = console
        self._stage: Stage | None = None
        self._text = ""
        self._stage_started = self._started = time.monotonic()
        self._live: Live = Live(
            _Status(self),
            console=console,
            refresh_per_second=8,
            transient=True,
            redirect_stdout=False,  # the report goes to stdout, untouched
            redirect_stderr=False,
        )
        self._live.start()

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.stage != self._stage:
            self._finish_stage(now)
            self._stage, self._stage_started = event.stage, now
        else:
            self._console.print(f"  [dim]{self._stage.value}:[/] {self._text}", highlight=False)
        self._text = event.text

    def close(self) -> None:
        self._finish_stage(time.monotonic())
        self._live.stop()
        total = time.monotonic() - self._started
        self._console.print(f"[dim]done in {total:.1f} s[/]", highlight=False)

    def status_line(self) -> RenderableType:
        if self._stage is None:
            return ""
        elapsed = time.monotonic() - self._stage_started
        self._spinner.update(
            text=f"[bold]{self._stage.value}[/] {self._text} [dim]({elapsed:.0f} s)[/]"
        )
        return self._spinner

    def _finish_stage(self, now: float) -> None:
        if self._stage is None:
            return
        took = now - self._stage_started
        self._console.print(
            f"[green]✓[/] [bold]{self._stage.value}[/] {self._text} [dim]({took:.1f} s)[/]",
            highlight=False,
        )


class _Status:
    def __init__(self, owner: LiveStages) -> None:
        self._owner = owner

    def __rich__(self) -> RenderableType:
        return self._owner.status_line()


def progress_display(*, quiet: bool, stream: TextIO | None = None) -> ProgressDisplay:
    """Silent, live on a terminal, plain lines otherwise."""
    stream = stream if stream is not None else sys.stderr
    if quiet:
        return Silent()
    if not stream.isatty():
        return PlainLines(stream)
    try:
        from rich.console import Console
    except ImportError:  # rich is a dependency; a trimmed install still gets lines
        return PlainLines(stream)
    console = Console(file=stream, highlight=False)  # honours NO_COLOR and TERM=dumb
    if console.is_dumb_terminal:
        return PlainLines(stream)
    return LiveStages(console)
