"""A terminal progress bar for the referential imports (no dependency: a bar, a percentage, a rate)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Redraws one line on a terminal; prints a plain line every `log_every` seconds elsewhere (logs)."""

    WIDTH = 30

    def __init__(self, label: str, *, total_bytes: int, stream: TextIO | None = None, log_every: float = 10.0):
        self.label = label
        self.total_bytes = max(total_bytes, 1)
        self.stream = stream or sys.stderr
        self.is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every = log_every
        self.started = time.monotonic()
        self.last_draw = 0.0

    def __call__(self, *, bytes_read: int, lines: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last_draw < (0.2 if self.is_tty else self.log_every):
            return
        self.last_draw = now
        fraction = min(bytes_read / self.total_bytes, 1.0)
        elapsed = max(now - self.started, 1e-6)
        rate = lines / elapsed
        filled = int(fraction * self.WIDTH)
        bar = "█" * filled + "░" * (self.WIDTH - filled)
        text = f"{self.label} {bar} {fraction:6.1%}  {lines:>11,} lignes  {rate:>9,.0f} lignes/s".replace(",", "\u202f")
        if self.is_tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.is_tty:
            self.stream.write("\r" + " " * 100 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()
