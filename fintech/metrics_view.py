"""The guarded ``/metrics`` endpoint (kept apart from fintech.metrics, which Celery imports early)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView

from kernel.errors import not_found


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics`` for Prometheus, answered only to the scraper.

    Metrics reveal the shape of the business (backlogs, failures, key ages), so the endpoint is not
    public: the direct peer must be in ``METRICS_ALLOWED_NETWORKS`` (loopback and private ranges by
    default: the scraper runs inside the cluster), or send ``Authorization: Bearer <METRICS_TOKEN>``.
    Anyone else gets the same 404 as for a page that does not exist.
    """
    token = settings.METRICS_TOKEN
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if (token and offered and hmac.compare_digest(offered, token)) or _peer_allowed(request):
        return ExportToDjangoView(request)
    return not_found(request)


def _peer_allowed(request: HttpRequest) -> bool:
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)
