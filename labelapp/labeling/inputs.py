"""What the labeling endpoints accept: one set of serializers for the web JSON endpoints and the REST API.

Built from the strict fields of :mod:`labelapp.lib.inputs`; the services do the checks that need the
database (the image is in the project, the version exists, the revision matches).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework import serializers

from labelapp.labeling.selectors import QUEUES, ReviewCursor, SuspectCursor
from labelapp.lib.inputs import MAX_HELD, MAX_INT32, StrictIntegerField, id_field, id_list_field

CLASS_INDEX_MAX = 32767  # LabelClass.index is a small integer
CURSOR_MAX_LENGTH = 200  # three numbers in their repr


def class_index_field(**options: Any) -> StrictIntegerField:
    return StrictIntegerField(min_value=0, max_value=CLASS_INDEX_MAX, **options)


def version_field(**options: Any) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=MAX_INT32, **options)


class CursorField(serializers.CharField):
    """A keyset cursor of one queue (``ReviewCursor`` or ``SuspectCursor`` text), decoded."""

    def __init__(self, decode: Callable[[str], Any], **options: Any) -> None:
        self.decode = decode
        super().__init__(**options)

    def to_internal_value(self, data: Any) -> Any:
        text = super().to_internal_value(data)
        cursor = self.decode(text) if len(text) <= CURSOR_MAX_LENGTH else None
        if cursor is None:
            raise serializers.ValidationError("Not a position in this queue: open the first page again.")
        return cursor


class NextImageRequestSerializer(serializers.Serializer):
    queue = serializers.ChoiceField(choices=QUEUES, default=QUEUES[0])
    held = id_list_field(
        max_length=MAX_HELD, default=list,
        help_text="Images the client already holds (their leases are renewed, they are not offered again).",
    )


class AnnotationSubmitSerializer(serializers.Serializer):
    image = id_field()
    class_index = class_index_field()
    expected_revision = StrictIntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_INT32,
        help_text="The revision you saw; needed to replace another person's label.",
    )


class ImageRequestSerializer(serializers.Serializer):
    """One image of the project (skip)."""

    image = id_field()


class ImageListSerializer(serializers.Serializer):
    """Image ids of the project (the leases to release, the review page to take back)."""

    images = id_list_field(default=list)


class PseudoLabelDecisionSerializer(serializers.Serializer):
    version = version_field(help_text="The version whose predictions were reviewed.")
    accept = id_list_field(default=list)
    reject = id_list_field(default=list)

    def validate(self, data: dict) -> dict:
        if not data["accept"] and not data["reject"]:
            raise serializers.ValidationError("Give at least one image id in accept or reject.")
        both = set(data["accept"]) & set(data["reject"])
        if both:
            raise serializers.ValidationError(f"Images cannot be both accepted and rejected: {sorted(both)}.")
        return data


class SuspectKeepSerializer(serializers.Serializer):
    image = id_field()
    version = version_field(help_text="The version whose prediction contradicts the label.")


class ReviewPageQuerySerializer(serializers.Serializer):
    """The review grid's query: ``?class=<index>`` (one predicted class) and ``?after=<cursor>``."""

    after = CursorField(ReviewCursor.decode, required=False, allow_blank=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        # ``class`` is a Python keyword, so it cannot be declared as an attribute.
        return {**super().get_fields(), "class": class_index_field(required=False, source="class_index")}


class SuspectsQuerySerializer(serializers.Serializer):
    after = CursorField(SuspectCursor.decode, required=False, allow_blank=True)
