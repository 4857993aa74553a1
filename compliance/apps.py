from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance (POPIA)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from compliance import (  # noqa: F401  (registers the PI admin page and system checks)
            admin_consent,
            admin_pi,
            checks,
        )
        from compliance.crypto.keys import connect_setting_changed

        connect_setting_changed()
