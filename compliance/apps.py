from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance (POPIA)"
    default_auto_field = "django.db.models.BigAutoField"
