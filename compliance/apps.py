from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance (POPIA)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from compliance import admin_consent  # noqa: F401  (registers the consent admin screens)
        from compliance.dsar import admin as dsar_admin  # noqa: F401  (registers the DSAR review queue)
