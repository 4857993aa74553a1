"""The ledger's API permissions: each staff action is a Django permission granted to a role
(accounts/roles.py), checked with kernel.access.HasPermission; the services check it again."""

from __future__ import annotations

from kernel.access import HasPermission

CanDecideKyc = HasPermission("ledger.decide_kyc", "Only operations staff may decide KYC submissions.")
CanReverseEntries = HasPermission("ledger.reverse_entry", "Only operations staff may reverse entries.")
CanSettle = HasPermission("ledger.confirm_settlement", "Only operations staff may settle pending movements.")
