"""Default API pagination: every list is paginated and a client cannot ask for unbounded pages."""

import binascii
from base64 import b64decode
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination, PageNumberPagination


class DefaultPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class InvalidCursor(exceptions.ValidationError):
    """A cursor that was not made by us (tampered, truncated, or from another list): 400."""

    default_code = "invalid_cursor"


class ValidatedCursorPagination(CursorPagination):
    """DRF's cursor pagination with the cursor checked before it reaches the database.

    DRF decodes the cursor's position as a plain string and puts it straight into the ordering
    filter, so ``?cursor=`` carrying ``p=not-a-date`` became a database error (a 500). Here the
    position must convert to the type of the first ordering field, and any undecodable cursor is
    a 400 in the error shape (DRF's own answer to garbage would be a 404).
    """

    invalid_cursor_message = "The cursor is not valid: use the next/previous links of the answer."

    def paginate_queryset(self, queryset, request, view=None):
        self._position_field = self._ordering_field(queryset.model)
        return super().paginate_queryset(queryset, request, view)

    def _ordering_field(self, model: Any) -> Any:
        ordering = self.ordering if isinstance(self.ordering, str) else self.ordering[0]
        return model._meta.get_field(ordering.lstrip("-"))

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        try:
            if encoded is not None:
                # DRF's decoder skips characters that are not base64; ours refuses them.
                b64decode(encoded.encode("ascii"), validate=True)
            cursor = super().decode_cursor(request)
        except (exceptions.NotFound, binascii.Error, UnicodeEncodeError) as exc:
            raise InvalidCursor({"cursor": [self.invalid_cursor_message]}) from exc
        if cursor is not None and cursor.position is not None:
            try:
                if "\x00" in cursor.position:
                    raise DjangoValidationError("NUL")
                self._position_field.to_python(cursor.position)
            except (DjangoValidationError, TypeError, ValueError, OverflowError) as exc:
                raise InvalidCursor({"cursor": [self.invalid_cursor_message]}) from exc
        return cursor
