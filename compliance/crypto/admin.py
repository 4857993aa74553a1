"""Admin search over encrypted columns through their blind indexes.

Django's admin search builds ``icontains`` filters, which encrypted fields refuse. List the
blind-indexed source fields instead; a search term then matches rows whose value equals the term
exactly after normalisation (e-mail case, phone formatting, ID-number spacing)::

    class CustomerAdmin(BlindIndexSearchMixin, admin.ModelAdmin):
        blind_index_search_fields = ("email", "phone", "id_number")
        search_fields = ("public_id",)  # plain columns still work as usual
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from compliance.crypto.fields import blind_index_fields


class BlindIndexSearchMixin:
    blind_index_search_fields: tuple[str, ...] = ()

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = tuple(super().get_search_fields(request))  # type: ignore[misc]
        # The admin shows the search box only when search_fields is non-empty.
        return fields or (("pk",) if self.blind_index_search_fields else ())

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        plain = tuple(super().get_search_fields(request))  # type: ignore[misc]
        results: QuerySet[Any]
        if plain:
            results, may_have_duplicates = admin.ModelAdmin.get_search_results(self, request, queryset, search_term)  # type: ignore[arg-type]
        else:
            results, may_have_duplicates = queryset.none(), False
        if not term:
            return queryset, False
        indexes = {index.source_field: index for index in blind_index_fields(queryset.model)}
        condition = Q()
        for source in self.blind_index_search_fields:
            condition |= Q(**{f"{indexes[source].name}__matches": term})
        return results | queryset.filter(condition), may_have_duplicates
