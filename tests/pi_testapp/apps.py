from django.apps import AppConfig


class PiTestappConfig(AppConfig):
    name = "tests.pi_testapp"
    label = "pi_testapp"
    default_auto_field = "django.db.models.BigAutoField"
