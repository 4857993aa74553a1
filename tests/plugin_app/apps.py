from django.apps import AppConfig


class PluginAppConfig(AppConfig):
    name = "tests.plugin_app"
    label = "plugin_app"
    verbose_name = "Loyalty programme (plug-in guide test app)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every registration the guide lists, from ready(): compliance never imports this app.
        from compliance.audit.change_trail import register_change_trail
        from tests.plugin_app import metrics
        from tests.plugin_app.models import LoyaltyMember
        from tests.plugin_app.retention import register_loyalty_targets
        from tests.plugin_app.services import register_correction_handlers

        register_loyalty_targets()  # guide step 6: what the retention purge may remove
        register_correction_handlers()  # guide step 7: what an approved DSAR correction may change
        register_change_trail(LoyaltyMember)  # guide step 9: field-level change trail, PI masked
        metrics.register()  # guide step 11: scrape-time gauges on /metrics
