from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

from django.apps import AppConfig

# One package per concern, each with the same file names (docs/ARCHITECTURE.md, "Layout"). Their
# plug-in modules are imported by convention: admin screens, system checks, Celery tasks and
# scrape-time metrics register themselves on import.
CONCERNS = ("pi", "audit", "crypto", "consent", "retention", "dsar", "secret_rotation")
PLUG_IN_MODULES = ("admin", "checks", "tasks", "metrics")


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance (POPIA)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Plug-ins only (no business logic): each concern's admin, checks, tasks and metrics;
        # key-provider reloads in tests, the field-level change trail for the user model (other
        # apps register their own models in their ready()), compliance's own retention targets,
        # and the scrape-time gauges.
        from django.contrib.auth import get_user_model

        from compliance.audit.change_trail import register_change_trail
        from compliance.audit.services import audit_key_destroyed
        from compliance.crypto.keys import connect_setting_changed
        from compliance.crypto.subject_keys import on_key_destroyed
        from compliance.crypto.subject_rows import connect_signals as connect_subject_keys
        from compliance.dsar.retention import register_dsar_retention
        from compliance.retention.engine import register_compliance_targets

        for concern in CONCERNS:
            for module in PLUG_IN_MODULES:
                name = f"{self.name}.{concern}.{module}"
                if find_spec(name) is None:
                    continue
                plug_in = import_module(name)
                # A metrics module puts its scrape-time collectors on the registry (no I/O here).
                if module == "metrics":
                    plug_in.register()
        connect_setting_changed()
        connect_subject_keys()
        on_key_destroyed(audit_key_destroyed)
        register_change_trail(get_user_model())
        register_compliance_targets()
        register_dsar_retention()
