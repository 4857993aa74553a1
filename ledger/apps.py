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
        _register_correction_handlers()  # what an approved DSAR correction may change (SPEC C6)
        metrics.register()  # the last reconciliation's outcome on /metrics


def _register_correction_handlers() -> None:
    """The corrections of KYC and bank details (POPIA s24), through the ledger's own services."""
    from accounts.models import User
    from compliance.dsar.corrections import CorrectionRefused, register_correction_handler
    from ledger.exceptions import LedgerError
    from ledger.services import BANK_CORRECTIONS, bank_account_correct, kyc_date_of_birth_correct

    def date_of_birth(*, actor: User, subject: User, changes: dict[str, str], reference: str) -> None:
        try:
            kyc_date_of_birth_correct(
                actor=actor, subject=subject, date_of_birth=changes["date_of_birth"], reference=reference
            )
        except LedgerError as error:
            raise CorrectionRefused(error.message) from error

    def bank_account(*, actor: User, subject: User, changes: dict[str, str], reference: str) -> None:
        try:
            bank_account_correct(actor=actor, subject=subject, changes=changes, reference=reference)
        except LedgerError as error:
            raise CorrectionRefused(error.message) from error

    register_correction_handler(fields={"date_of_birth"}, apply=date_of_birth)
    register_correction_handler(fields=set(BANK_CORRECTIONS), apply=bank_account)
