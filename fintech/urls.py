from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView

from fintech import health
from fintech.api import ApiRootView
from fintech.docs_access import SchemaView, SwaggerView
from fintech.metrics_view import metrics_view
from kernel import errors

api_v1: list[URLPattern | URLResolver] = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("compliance.dsar.urls")),
    path("", include("compliance.consent.urls")),
    path("", include("compliance.retention.urls")),
    path("", include("accounts.urls")),
    path("", include("compliance.audit.urls")),
    path("", include("ledger.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Prometheus scrape endpoint: the scraper's network or token only (kernel/metrics.py).
    path("metrics", metrics_view, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # Public in dev and tests, staff only in production (fintech/docs_access.py).
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # ReDoc needs inline styles and blob: workers, which the CSP forbids: the address (an interface)
    # now leads to the Swagger UI page, which works under the CSP.
    path(
        "api/redoc/",
        RedirectView.as_view(pattern_name="swagger-ui", permanent=False, http_method_names=["get", "head"]),
        name="redoc",
    ),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.not_found
handler500 = errors.server_error
