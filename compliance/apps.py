from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance (POPIA)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Admin screens kept in their own modules, and the PI inventory's system checks.
        from compliance import admin_consent, admin_pi, checks  # noqa: F401
        from compliance.crypto.keys import connect_setting_changed
        from compliance.dsar import admin as dsar_admin  # noqa: F401

        connect_setting_changed()
