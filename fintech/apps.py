from django.apps import AppConfig


class FintechConfig(AppConfig):
    """The project itself as an app: it owns cross-app commands (demo data, the beat schedule)."""

    name = "fintech"
    verbose_name = "Platform"

    def ready(self) -> None:
        from fintech import checks  # noqa: F401  (registers the system checks)
        from kernel import metrics
        from kernel.redaction import install_redacting_record_factory

        metrics.register()
        # PI masked in every log record as it is made, before any handler sees it (kernel.redaction).
        install_redacting_record_factory()
