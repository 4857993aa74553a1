"""The PI inventory page's permission holder (no table)."""

from __future__ import annotations

from django.db import models


class PIInventory(models.Model):
    """No table: carries the permission to view the PI inventory page in the admin."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_pi_inventory", "Can view the personal-information inventory")]
        verbose_name = "personal-information inventory"
        verbose_name_plural = "personal-information inventory"

    def __str__(self) -> str:
        return "personal-information inventory"
