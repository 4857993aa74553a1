"""The guarded ``/metrics`` endpoint (kept apart from fintech.metrics, which Celery imports early)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_prometheus.exports import ExportToDjangoView

from kernel.errors import error_body, not_found
from kernel.request_context import client_ip

# Headers a proxy adds; a request carrying one came through a proxy, whatever its peer address.
_FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics`` for Prometheus, answered only to the scraper.

    Metrics reveal the shape of the business (backlogs, failures, key ages), so the endpoint is not
    public. It answers a request that either

    - sends ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time), or
    - comes from ``METRICS_ALLOWED_NETWORKS`` *as seen through TRUSTED_PROXIES*: behind a proxy the
      direct peer is the proxy (a private address), so the peer alone proves nothing. A request
      relayed by a trusted proxy is judged by the client address the proxy reports; one carrying
      forwarding headers from an untrusted peer (an unknown proxy) is never let in by address.

    A wrong token is a 401 even from an allowed network; anyone else without a token gets the
    same 404 as for a page that does not exist.
    """
    offered = request.headers.get("Authorization")
    if offered is not None:
        token = settings.METRICS_TOKEN
        scheme, _, credential = offered.partition(" ")
        if token and scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), token.encode()):
            return ExportToDjangoView(request)
        response = JsonResponse(error_body("not_authenticated", "The metrics token is not valid."), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if _scraper_network(request):
        return ExportToDjangoView(request)
    return not_found(request)


def _in_allowed_networks(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)


def _trusted_peer(peer: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXIES)


def _scraper_network(request: HttpRequest) -> bool:
    peer = request.META.get("REMOTE_ADDR")
    forwarded = any(request.META.get(header) for header in _FORWARDING_HEADERS)
    if not forwarded:
        # A direct connection (the in-cluster scraper): the peer is the client.
        return _in_allowed_networks(peer)
    if not _trusted_peer(peer):
        # Relayed by something we do not trust to tell us who the client is.
        return False
    client = client_ip(request)
    return client != peer and _in_allowed_networks(client)
