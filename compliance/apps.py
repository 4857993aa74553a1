from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance (POPIA)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Plug-ins only (no business logic): admin screens kept in their own modules, the PI
        # inventory's system checks, key-provider reloads in tests, the field-level change trail
        # for the user model (other apps register their own models in their ready()), and the
        # audit-chain metrics.
        from django.contrib.auth import get_user_model

        from compliance import admin_consent, admin_pi, admin_retention, checks, metrics  # noqa: F401
        from compliance.change_trail import register_change_trail
        from compliance.crypto.keys import connect_setting_changed
        from compliance.dsar import admin as dsar_admin  # noqa: F401
        from compliance.retention import register_compliance_targets
        from compliance.secrets_inventory import register_metrics as register_secret_metrics

        connect_setting_changed()
        register_change_trail(get_user_model())
        metrics.register()
        register_compliance_targets()
        register_secret_metrics()
