"""Cursor pagination whose ordering each view declares (``ordering = "id"`` etc.)."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class ViewCursorPagination(CursorPagination):
    """Opaque ``cursor`` links, stable under inserts; ``page_size`` up to 500 (default from settings)."""

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        ordering = getattr(view, "ordering", "id")
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)
