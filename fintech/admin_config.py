"""django.contrib.admin with the OTP-enforcing site as the default ``admin.site``.

Listed in INSTALLED_APPS instead of "django.contrib.admin" (its own module, because Django
refuses an apps.py that declares two AppConfig classes).
"""

from django.contrib.admin.apps import AdminConfig


class PlatformAdminConfig(AdminConfig):
    default_site = "fintech.admin_site.PlatformAdminSite"
