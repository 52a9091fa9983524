"""Request validation shared by the web JSON endpoints, the pages' query strings and the REST API.

One layer of DRF serializer fields for both sides, so that a body the API refuses with a 400 is refused by
the pages' endpoints too. The fields are stricter than DRF's own ``IntegerField``: a number is an int or a
string of ASCII digits (``"١٢"`` and ``"²"`` are refused: ``str.isdigit()`` accepts them, ``int()`` reads the
first and fails on the second), never a bool, an infinity or a NaN, and always inside the database's range.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

MAX_ID = 2**63 - 1  # ids above a bigint's range reach the database as an overflow (a 500 instead of a 400)
MAX_INT32 = 2**31 - 1  # version numbers, revisions
MAX_IDS = 1000  # ids in one decision or release request
MAX_HELD = 50  # images a labeling page may hold (current and preloaded) when it asks for the next one
_ASCII_INTEGER = re.compile(r"\s*[-+]?[0-9]+\s*")


class InvalidInput(ValueError):
    """A request parameter or body refused; ``str(error)`` names each wrong field for the person."""


class StrictIntegerField(serializers.IntegerField):
    """An integer given as a JSON number or a string of ASCII digits, within ``min_value``..``max_value``."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or (isinstance(data, float) and not math.isfinite(data)):
            self.fail("invalid")
        if isinstance(data, str) and not _ASCII_INTEGER.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


def id_field(**options: Any) -> StrictIntegerField:
    """A database id (1..2^63-1)."""
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **options)


def id_list_field(*, max_length: int = MAX_IDS, **options: Any) -> serializers.ListField:
    """A list of at most ``max_length`` database ids."""
    return serializers.ListField(child=id_field(), max_length=max_length, **options)


def error_text(errors: Mapping[str, Any] | list) -> str:
    """A serializer's errors as one line: ``"held: Ensure this field has no more than 50 elements."``."""
    if isinstance(errors, list):
        return " ".join(error_text(e) if isinstance(e, dict | list) else str(e) for e in errors)
    parts = []
    for field, messages in errors.items():
        text = error_text(messages if isinstance(messages, dict | list) else [messages])
        parts.append(text if field == "non_field_errors" else f"{field}: {text}")
    return "; ".join(parts)


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """``data`` validated by ``serializer_class``; :class:`InvalidInput` naming every wrong field otherwise."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise InvalidInput(error_text(serializer.errors))
    return dict(serializer.validated_data)

