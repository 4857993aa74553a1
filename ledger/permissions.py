"""The ledger's API permissions: each staff action is a Django permission granted to a role
(accounts/roles.py), checked with kernel.access.HasPermission; the services check it again. These
duties move or release money, so only a role grants them (``through_role``): a superuser is not
operations staff by being a superuser."""

from __future__ import annotations

from kernel.access import HasPermission

CanDecideKyc = HasPermission(
    "ledger.decide_kyc", "Only operations staff may decide KYC submissions.", through_role=True
)
CanReverseEntries = HasPermission(
    "ledger.reverse_entry", "Only operations staff may reverse entries.", through_role=True
)
CanSettle = HasPermission(
    "ledger.confirm_settlement", "Only operations staff may settle pending movements.", through_role=True
)
