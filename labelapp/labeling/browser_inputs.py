"""What the images data browser accepts: its query string (filters, sort, cursor) and the bulk label body.

Built from :mod:`labelapp.lib.inputs`; the view resolves what needs the database (the class index
exists, the annotator is a member) and refuses the rest with the field's name.
"""

from __future__ import annotations

import math
import re
from typing import Any

from rest_framework import serializers

from labelapp.labeling.browser import DEFAULT_SORT, SORTS, SOURCES, STATES
from labelapp.labeling.inputs import CURSOR_MAX_LENGTH, class_index_field
from labelapp.lib.inputs import MAX_IDS, MAX_INT32, StrictIntegerField, id_field

_DECIMAL = re.compile(r"\s*[0-9]*\.?[0-9]+\s*")


class UnitIntervalField(serializers.FloatField):
    """A number from 0 to 1 written as plain decimals (``0.9``, ``.95``, ``1``); never NaN, an infinity or ``1e-3``."""

    def __init__(self, **options: Any) -> None:
        super().__init__(min_value=0.0, max_value=1.0, **options)

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or (isinstance(data, str) and not _DECIMAL.fullmatch(data)):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


def _blank_choice(choices: dict[str, str]) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=list(choices), required=False, allow_blank=True, default="")


class BrowserQuerySerializer(serializers.Serializer):
    """``?class=&predicted=&source=&min_confidence=&max_confidence=&annotator=&state=&sort=&after=|before=``;
    the cursors are decoded with the sort's own :meth:`~labelapp.labeling.browser.Sort.decode`."""

    predicted = class_index_field(required=False)
    source = _blank_choice(SOURCES)
    min_confidence = UnitIntervalField(required=False)
    max_confidence = UnitIntervalField(required=False)
    annotator = serializers.CharField(required=False, allow_blank=True, max_length=150, default="")
    state = _blank_choice(STATES)
    sort = serializers.ChoiceField(choices=list(SORTS), required=False, default=DEFAULT_SORT)
    after = serializers.CharField(required=False, allow_blank=True, max_length=CURSOR_MAX_LENGTH)
    before = serializers.CharField(required=False, allow_blank=True, max_length=CURSOR_MAX_LENGTH)

    def get_fields(self) -> dict[str, serializers.Field]:
        # ``class`` is a Python keyword, so it cannot be declared as an attribute.
        return {**super().get_fields(), "class": class_index_field(required=False, source="class_index")}

    def validate(self, data: dict) -> dict:
        low, high = data.get("min_confidence"), data.get("max_confidence")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError("min_confidence is above max_confidence.")
        if data.get("after") and data.get("before"):
            raise serializers.ValidationError("Give after or before, not both.")
        sort = SORTS[data["sort"]]
        for name in ("after", "before"):
            text = data.get(name)
            if text:
                cursor = sort.decode(text)
                if cursor is None:
                    raise serializers.ValidationError(
                        {name: "Not a position in this order: open the first page again."}
                    )
                data[name] = cursor
            else:
                data[name] = None
        return data


class LabelChoice(serializers.Serializer):
    image = id_field()
    expected_revision = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_INT32)


class BulkLabelSerializer(serializers.Serializer):
    """``{"class_index": 2, "images": [{"image": 7, "expected_revision": 1}, ...]}``: the revisions seen."""

    class_index = class_index_field()
    images = serializers.ListField(child=LabelChoice(), min_length=1, max_length=MAX_IDS)
