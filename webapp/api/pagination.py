"""The one pagination of every API list: `?limit=` (1 to MAX_LIMIT, default DEFAULT_LIMIT)
and `?offset=` (0 to MAX_OFFSET); the answer holds the page's `items`, the total `count`,
and the offset of the `next` page (null on the last page)."""
from typing import Any, List, Optional

from ninja import Field, Schema
from ninja.pagination import PaginationBase

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# the database's OFFSET is a bigint: past it a query fails (a 500); no list comes near this
MAX_OFFSET = 2**31 - 1


class LimitOffset(PaginationBase):
    class Input(Schema):
        limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Items per page (1 to {MAX_LIMIT}).")
        offset: int = Field(0, ge=0, le=MAX_OFFSET, description=f"Items to skip (0 to {MAX_OFFSET}).")

    class Output(Schema):
        items: List[Any]
        count: int = Field(description="Items in the whole list.")
        limit: int
        offset: int
        next: Optional[int] = Field(description="The offset of the next page; null on the last page.")

    def paginate_queryset(self, queryset, pagination, request, **params):
        offset, limit = pagination.offset, pagination.limit
        count = self._items_count(queryset)
        return {"items": list(queryset[offset:offset + limit]), "count": count, "limit": limit, "offset": offset,
                "next": offset + limit if offset + limit < count else None}
