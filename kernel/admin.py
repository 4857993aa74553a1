"""What every app's admin screens share, without the project's admin site importing the apps.

- ``ReadOnlyAdminMixin``: records nobody may add, change or delete by hand. Evidence (audit
  events, consent events), ledgers, purge runs and inventories are written only by services; the
  admin shows them. Put the mixin before ``admin.ModelAdmin`` (or an inline class) in the bases;
  Django then renders the change view read-only for users with the view permission.
- Index warnings: the landing page raises what needs a person now, to whoever is responsible.
  Each app contributes its own (``register_index_warning`` at import of its admin module); the
  project's admin site (fintech/admin_site.py) shows those whose permission the user holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyModelAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A read-only screen over a big table: no full count (a COUNT(*) per page view), 100 a page."""

    show_full_result_count = False
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
