"""Admin screens for records nobody may add, change or delete by hand.

Evidence (audit events, consent events), ledgers, purge runs and inventories are written only by
services; the admin shows them. Put the mixin before ``admin.ModelAdmin`` (or an inline class) in
the bases; Django then renders the change view read-only for users with the view permission.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
