from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance (POPIA)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model

        from compliance import metrics
        from compliance.change_trail import register_change_trail

        # Plug-ins only (no business logic): the field-level change trail for the user model
        # (other apps register their own models in their ready()), and the audit-chain metrics.
        register_change_trail(get_user_model())
        metrics.register()
