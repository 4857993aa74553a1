"""The PI inventory page's permission holder (no table)."""

from __future__ import annotations

from django.db import models


class PIInventory(models.Model):
    """No table: carries the permissions to view the PI inventory page and to reveal masked PI."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_pi_inventory", "Can view the personal-information inventory"),
            # compliance.pi.vocabulary.REVEAL_PERMISSIONS: one per PI category.
            ("reveal_identity", "Can reveal masked identity PI in the admin (audited, with a reason)"),
            ("reveal_contact", "Can reveal masked contact PI in the admin (audited, with a reason)"),
            ("reveal_financial", "Can reveal masked financial PI in the admin (audited, with a reason)"),
            ("reveal_card", "Can reveal masked card data in the admin (audited, with a reason)"),
            ("reveal_special", "Can reveal masked special PI in the admin (audited, with a reason)"),
            ("reveal_children", "Can reveal masked children's PI in the admin (audited, with a reason)"),
        ]
        verbose_name = "personal-information inventory"
        verbose_name_plural = "personal-information inventory"

    def __str__(self) -> str:
        return "personal-information inventory"
