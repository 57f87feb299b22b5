"""The progress of a search as one line a person can read: n/N, elapsed time, ETA, the best value
of each objective so far, the front's size, the feasible share and how many trials repeated an
earlier candidate (cached, not re-evaluated).

On a terminal the line is redrawn in place (at most ten times a second), and cleared before any
log record is printed, so log lines never mix with it; otherwise (a log file, a CI job, a test)
it is logged every ``every_s`` seconds and once at the end.
"""
from __future__ import annotations

import logging
import math
import sys
import time
from typing import TextIO

log = logging.getLogger("nos.run")


def clock(seconds: float) -> str:
    """``h:mm:ss``."""
    seconds = int(round(max(seconds, 0.0)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _ClearFirst(logging.Filter):
    """A filter on the log handlers that clears a live status line before a record is printed."""

    def __init__(self, line: _Line):
        super().__init__()
        self.line = line

    def filter(self, record: logging.LogRecord) -> bool:
        self.line.clear()
        return True


class _Line:
    """One status line: redrawn in place on a terminal (at most ten times a second) and cleared
    before log records, else logged every ``every_s`` seconds."""

    def __init__(self, stream: TextIO | None, every_s: float):
        self.stream = sys.stderr if stream is None else stream
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s
        self.start = time.monotonic()
        self._last_shown = -math.inf
        self._line = ""
        self._filter: _ClearFirst | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def _due(self) -> bool:
        """Whether a new line may be shown now (and if so, it counts as shown)."""
        now = time.monotonic()
        if now - self._last_shown < (0.1 if self.live else self.every_s):
            return False
        self._last_shown = now
        return True

    def _write(self, line: str) -> None:
        if self.live:
            if self._filter is None:  # from now on, log records clear the line first
                self._filter = _ClearFirst(self)
                for handler in logging.getLogger().handlers:
                    handler.addFilter(self._filter)
            self.stream.write("\r" + line.ljust(len(self._line)))
            self.stream.flush()
        else:
            log.info(line)
        self._line = line

    def clear(self) -> None:
        """Erase a live line (it is drawn again at the next update)."""
        if self.live and self._line:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._line = ""

    def _end(self) -> None:
        """End a terminal line and stop clearing it before log records."""
        if self.live and self._line:
            self.stream.write("\n")
            self.stream.flush()
            self._line = ""
        if self._filter is not None:
            for handler in logging.getLogger().handlers:
                handler.removeFilter(self._filter)
            self._filter = None


class Progress(_Line):
    """Counts finished trials of this invocation and reports them.

    Args:
        total: trials this invocation runs (None: until a timeout).
        timeout: seconds this invocation may run (None: no limit).
        stream: where a terminal line goes (default stderr); not a terminal: lines are logged.
        every_s: seconds between logged lines when the stream is not a terminal.
    """

    def __init__(self, total: int | None, timeout: float | None, stream: TextIO | None = None,
                 every_s: float = 5.0):
        super().__init__(stream, every_s)
        self.total, self.timeout = total, timeout
        self.done = 0
        self.feasible = 0
        self.cached = 0

    def eta(self) -> float | None:
        """Seconds left: from the trial rate towards ``total``, or to the timeout if sooner."""
        left = []
        if self.total is not None and self.done:
            left.append(self.elapsed / self.done * (self.total - self.done))
        if self.timeout is not None:
            left.append(self.timeout - self.elapsed)
        return min(left) if left else None

    def update(self, feasible: bool, best: str, front: int, cached: bool = False) -> None:
        """One more trial finished; ``best`` describes the best value per objective so far;
        ``cached``: it repeated an earlier candidate, whose numbers it reused."""
        self.done += 1
        self.feasible += bool(feasible)
        self.cached += bool(cached)
        if self._due():
            self.show(best, front)

    def show(self, best: str, front: int) -> None:
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        share = f"{self.feasible / self.done:.0%}" if self.done else "-"
        eta = self.eta()
        self._write(f"trials {count} | {clock(self.elapsed)} elapsed"
                    f"{'' if eta is None else f', ETA {clock(eta)}'} | {best} | front {front} | feasible {share}"
                    f"{f' | {self.cached} repeats (cached)' if self.cached else ''}")

    def close(self, best: str, front: int) -> None:
        """Show the final count (unless just shown) and end a terminal line."""
        if self.done and not self._line.startswith(f"trials {self.done}"):
            self.show(best, front)
        self._end()


class StepProgress(_Line):
    """Progress of a training (steps of an optimiser) as one line: ``label: step n/N (p %),
    elapsed, ETA``; redrawn in place on a terminal, else logged every ``every_s`` seconds and
    at the last step. Call the instance with (steps done, total steps)."""

    def __init__(self, label: str, stream: TextIO | None = None, every_s: float = 5.0):
        super().__init__(stream, every_s)
        self.label = label

    def __call__(self, done: int, total: int) -> None:
        last = done >= total
        if not self._due() and not last:
            return
        elapsed = self.elapsed
        eta = elapsed / done * (total - done) if done else None
        self._write(f"{self.label}: step {done}/{total} ({done / max(total, 1):.0%}) | {clock(elapsed)} elapsed"
                    f"{'' if eta is None or last else f', ETA {clock(eta)}'}")
        if last:
            self._end()
