"""Which API endpoints answer anonymous callers is declared once (``fintech.api.PUBLIC_ENDPOINTS``)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny

from fintech.api import PUBLIC_ENDPOINTS


def _patterns(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for item in resolver.url_patterns:
        if isinstance(item, URLResolver):
            found += _patterns(item, prefix + str(item.pattern))
        else:
            found.append((prefix + str(item.pattern), item))
    return found


def test_only_the_declared_endpoints_let_anonymous_callers_in():
    anonymous = {}
    for route, pattern in _patterns(get_resolver()):
        view_class = getattr(pattern.callback, "cls", None)
        if view_class is None or not route.startswith("api/"):
            continue
        permissions = list(getattr(view_class, "permission_classes", []))
        if not permissions or any(issubclass(p, AllowAny) for p in permissions):
            anonymous[pattern.name] = route
    assert set(anonymous) == set(PUBLIC_ENDPOINTS), anonymous
