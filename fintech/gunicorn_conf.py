"""Gunicorn settings shared by every way the web process starts (Dockerfile, k8s, Procfile.dev):
``gunicorn --config python:fintech.gunicorn_conf fintech.wsgi:application ...``.

No ``Server`` banner: gunicorn writes ``Server: gunicorn`` on every answer before the app's own
headers, and offers no setting to drop it; naming the server software and version only helps an
attacker pick exploits. The response's header builder is wrapped once, at config load, to leave
that line out (every other header, including the app's, is untouched).
"""

from __future__ import annotations

from gunicorn.http import wsgi

_default_headers = wsgi.Response.default_headers


def _default_headers_without_server(self: wsgi.Response) -> list[str]:
    return [line for line in _default_headers(self) if not line.lower().startswith("server:")]


if getattr(wsgi.Response.default_headers, "__name__", "") != _default_headers_without_server.__name__:
    wsgi.Response.default_headers = _default_headers_without_server
