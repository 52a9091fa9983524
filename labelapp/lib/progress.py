"""Progress of long commands: a tqdm bar on a terminal, plain lines elsewhere.

Off a terminal (``make run``'s log, CI, a pipe) tqdm's carriage-return redraws pile up into one
very long line; there a line is written at each tenth of the work instead.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


class TenthLines:
    """The part of tqdm's interface the commands use (``update``, ``write``, ``close``, a context manager),
    writing ``<desc>: 30% (900/3000 img)`` once per tenth of ``total``."""

    def __init__(self, *, total: int, desc: str, unit: str, stream: TextIO, disable: bool = False) -> None:
        self.total, self.desc, self.unit, self.stream, self.disable = total, desc, unit, stream, disable
        self.done = 0
        self.tenths = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        reached = min(10, self.done * 10 // self.total) if self.total else 0
        if reached > self.tenths:
            self.tenths = reached
            self._line(f"{self.desc + ': ' if self.desc else ''}{reached * 10}% ({self.done}/{self.total} {self.unit})")

    def write(self, message: str) -> None:
        self._line(message)

    def _line(self, text: str) -> None:
        if not self.disable:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Nothing to clear: every line is final."""

    def __enter__(self) -> TenthLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(
    *, total: int, desc: str = "", unit: str = "it", disable: bool = False, stream: TextIO | None = None
) -> tqdm | TenthLines:
    """A tqdm bar when ``stream`` (default stderr) is a terminal, else :class:`TenthLines`."""
    stream = stream or sys.stderr
    if stream.isatty():
        return tqdm(total=total, desc=desc or None, unit=unit, disable=disable, leave=False, file=stream)
    return TenthLines(total=total, desc=desc, unit=unit, stream=stream, disable=disable)
