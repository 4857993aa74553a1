"""Who and where a unit of work comes from: the request id and the client's address.

The audit trail, every log line and every Celery task carry the request id, so one customer action
can be followed end to end. It lives in a ``ContextVar`` (safe across threads and async tasks), set
by the request-id middleware for HTTP and by the Celery signal hooks for tasks.

The client address is taken from ``X-Forwarded-For`` only when the direct peer is a configured
trusted proxy (``TRUSTED_PROXIES``); otherwise a client could write any address into the audit
trail by sending the header itself.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from contextvars import ContextVar, Token

from django.conf import settings
from django.http import HttpRequest

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Accept a caller's id only when it is short and harmless: it is echoed in a response header and
# written to logs, so anything else (newlines, markup, PII-sized blobs) is replaced.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(candidate: str | None) -> str:
    if candidate and _SAFE_REQUEST_ID.match(candidate):
        return candidate
    return new_request_id()


def get_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> Token:
    return _request_id.set(value)


def reset_request_id(token: Token) -> None:
    _request_id.reset(token)


def _trusted_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(net, strict=False) for net in getattr(settings, "TRUSTED_PROXIES", [])]


def _is_trusted(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, following ``X-Forwarded-For`` only through trusted proxies.

    Walks the forwarded chain from the right (the hop nearest to us) and returns the first
    address that is not one of our proxies: the left part of the header is client-controlled.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    networks = _trusted_networks()
    if not peer or not _is_trusted(peer, networks):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer
