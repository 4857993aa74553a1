"""The loyalty programme's retention target (guide step 6), registered from ``PluginAppConfig.ready()``.

A closed membership goes once the ``account_active_plus_1y`` policy's period (admin-editable) has
passed since ``closed_at``; open memberships are never candidates. The engine skips rows on a legal
hold and members with an open data-subject request.
"""

from __future__ import annotations

from compliance.retention.engine import register_retention_target
from tests.plugin_app.models import LoyaltyMember

POLICY = "account_active_plus_1y"


def register_loyalty_targets() -> None:
    register_retention_target(
        LoyaltyMember,
        policy=POLICY,
        date_field="closed_at",
        subject_path="user",
        queryset=lambda: LoyaltyMember.objects.filter(closed_at__isnull=False),
    )
