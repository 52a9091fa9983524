"""CSV that spreadsheets cannot execute: OWASP's CSV injection rule, in one place.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula by
Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``@SUM(...)``, DDE payloads). Following
https://owasp.org/www-community/attacks/CSV_Injection, such a cell gets a leading single quote and
every field is enclosed in double quotes. Numbers the app writes itself (ids, confidences) are not
text from users and pass unchanged.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, value: str, /) -> Any: ...


def csv_cell(value: object) -> object:
    """``value`` made inert for spreadsheets: text starting like a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeCsvWriter:
    """``csv.writer`` that quotes every field and escapes formula-like text cells (see the module doc)."""

    def __init__(self, target: _Writable, *, lineterminator: str = "\r\n") -> None:
        self._writer = csv.writer(target, quoting=csv.QUOTE_ALL, lineterminator=lineterminator)

    def writerow(self, row: Iterable[object]) -> Any:
        return self._writer.writerow([csv_cell(value) for value in row])
