"""What every app's admin screens share, without the project's admin site importing the apps.

- ``ReadOnlyAdminMixin``: records nobody may add, change or delete by hand. Evidence (audit
  events, consent events), ledgers, purge runs and inventories are written only by services; the
  admin shows them. Put the mixin before ``admin.ModelAdmin`` (or an inline class) in the bases;
  Django then renders the change view read-only for users with the view permission.
- ``DeleteThroughServiceMixin``: a screen whose deletions are a service's action (audited,
  refused for one's own): the delete view and the bulk action both call ``delete_through_service``,
  the bulk action all or nothing.
- ``reregister``: a third-party app's screen given our behaviour (read-only, PI masked, its
  deletions routed through a service) by replacing its ModelAdmin with a subclass.
- ``CappedCountPaginator``: change-list pages over big tables without a COUNT(*) of the table: it
  counts at most ``count_cap`` rows and beyond that takes the planner's estimate (shown as
  "about N").
- Index warnings: the landing page raises what needs a person now, to whoever is responsible.
  Each app contributes its own (``register_index_warning`` at import of its admin module); the
  project's admin site (fintech/admin_site.py) shows those whose permission the user holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import DatabaseError, transaction
from django.http import HttpRequest
from django.utils.functional import cached_property

from kernel.types import Actor


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeleteThroughServiceMixin:
    def delete_through_service(self, actor: Actor, obj: Any) -> None:
        raise NotImplementedError

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_through_service(cast(Actor, request.user), obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():  # all or nothing: one refused row (one's own) keeps them all
            for obj in queryset:
                self.delete_through_service(cast(Actor, request.user), obj)


def reregister(model: type, *mixins: type) -> None:
    """Replace ``model``'s registered ModelAdmin by a subclass with ``mixins`` first in its bases.

    For the screens third-party apps register (import their ``admin`` module first). A model that
    is not registered is a mistake in the caller, not something to skip: LookupError."""
    if not admin.site.is_registered(model):
        raise LookupError(f"{model._meta.label} has no admin screen to replace.")  # type: ignore[attr-defined]
    original: type = type(admin.site.get_model_admin(model))
    admin.site.unregister(model)
    prefix = "".join(mixin.__name__.removesuffix("Mixin").removesuffix("Admin") for mixin in mixins)
    admin.site.register(model, type(f"{prefix}{original.__name__}", (*mixins, original), {}))


class CappedCountPaginator(Paginator):
    """Pages of a big queryset without counting all of it.

    Django's admin counts the filtered rows on every page view (``paginator.count``): over a
    million audit events that is a scan of the whole table or index for each click. Here the count
    stops at ``count_cap`` rows (``SELECT COUNT(*) FROM (... LIMIT cap + 1)``: cheap whatever the
    table's size); only when there are more does it ask PostgreSQL's planner for its estimate of
    the filtered rows (``EXPLAIN``, no scan). Then ``estimated`` is True and the list says "about
    N". Pages are still fetched with LIMIT/OFFSET, so a page past the real end (the estimate was
    high) is simply empty. One query either way (two past the cap), never one per row.
    """

    count_cap = 10_000
    estimated = False

    @cached_property
    def count(self) -> int:
        queryset: Any = self.object_list  # the admin hands it a QuerySet
        queryset = queryset.order_by()
        capped = queryset[: self.count_cap + 1].count()
        if capped <= self.count_cap:
            return int(capped)
        self.estimated = True
        return max(capped, self._planner_estimate(queryset))

    @staticmethod
    def _planner_estimate(queryset: Any) -> int:
        try:
            plan = json.loads(queryset.explain(format="json"))
            top = plan[0] if isinstance(plan, list) else plan  # Django flattens the one-row answer
            return int(top["Plan"]["Plan Rows"])
        except (DatabaseError, ValueError, KeyError, IndexError, TypeError):
            return 0  # no estimate (another database): the capped count stands


class ReadOnlyModelAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A read-only screen over a big table: no full count (a COUNT(*) per page view), 100 a page."""

    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 100


@dataclass(frozen=True)
class IndexWarning:
    """``show(request)`` adds messages; shown only to users holding ``permission``."""

    name: str
    permission: str
    show: Callable[[HttpRequest], None]


_INDEX_WARNINGS: dict[str, IndexWarning] = {}


def register_index_warning(name: str, *, permission: str, show: Callable[[HttpRequest], None]) -> None:
    """Declare a landing-page warning (idempotent by ``name``: ``ready()`` may run again)."""
    _INDEX_WARNINGS[name] = IndexWarning(name, permission, show)


def index_warnings() -> list[IndexWarning]:
    return [_INDEX_WARNINGS[name] for name in sorted(_INDEX_WARNINGS)]


def money_column(field: str, *, description: str | None = None, currency_field: str = "currency") -> Any:
    """A change-list column showing minor units as money (``R 1,800.00``), right-aligned by
    fintech/static/fintech/staff.css: ``list_display = (..., money_column("amount"), ...)``."""
    from kernel.display import money

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(obj: Any) -> str:
        return money(getattr(obj, field), getattr(obj, currency_field, "ZAR"))

    column.__name__ = f"{field}_display"
    return column


def person_column(field: str, *, description: str | None = None) -> Any:
    """A change-list column naming a person by masked name + short id (``kernel.display``); put
    ``field`` in ``list_select_related`` so the column costs no query per row."""
    from kernel.display import person_label

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(obj: Any) -> str:
        return person_label(getattr(obj, field))

    column.__name__ = f"{field}_person"
    return column
