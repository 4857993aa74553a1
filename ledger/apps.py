from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ledger import analytics, kyc_recheck, metrics  # noqa: F401  (may_process consumers register)
        from ledger.cards import admin as cards_admin  # noqa: F401  (payment cards: read-only, masked)
        from ledger.retention import register_ledger_targets

        register_ledger_targets()  # what the retention purge may remove (SPEC C8)
        # A deletion request is blocked while the subject holds money, until the officer settles it.
        from compliance.dsar.balances import register_balance_holder
        from ledger.services import wallet_balances_of, wallets_settle_for_deletion

        register_balance_holder("ledger", balances=wallet_balances_of, settle=wallets_settle_for_deletion)
        metrics.register()  # the last reconciliation's outcome on /metrics
