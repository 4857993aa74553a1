"""Gunicorn settings shared by every way the web process starts (Dockerfile, k8s, Procfile.dev):
``gunicorn --config python:fintech.gunicorn_conf fintech.wsgi:application ...``.

No ``Server`` banner: gunicorn writes ``Server: gunicorn`` on every answer before the app's own
headers, and offers no setting to drop it; naming the server software and version only helps an
attacker pick exploits. The response's header builder is wrapped once, at config load, to leave
that line out (every other header, including the app's, is untouched).

Gunicorn's own refusals in the error shape of SPEC C1: a request gunicorn refuses before the app
sees it (a request line over ``limit_request_line``: 414; malformed or oversized headers: 400 or
431) was an HTML page, whose message quotes the offending input for some refusals.
``util.write_error`` is replaced, once, by a writer of ``{"error": {"code", "message"}}`` as JSON
that names the status only (found by schemathesis in ``make dast-full``: a 4,300-byte query string
answered an undocumented, HTML 414).

The worker model is set here, once, for every way the web process starts (Dockerfile, k8s,
bench/bench_api.py): ``workers`` and ``threads`` (``threads`` > 1 makes gunicorn use gthread
workers). The values are what bench/bench_api.py measured best on the transfer API (issue 19,
docs/BENCHMARKS.md, "Worker model"); ``WEB_CONCURRENCY`` and ``GUNICORN_THREADS`` override them
per deployment. The count is fixed rather than derived from ``os.cpu_count()``: in a container
that reports the node's cores, not the pod's CPU limit, and 2 x cores + 1 workers on a large node
would not fit the pod's memory limit.
"""

from __future__ import annotations

import json
import os

from gunicorn import util
from gunicorn.http import wsgi

workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))

_default_headers = wsgi.Response.default_headers


def _default_headers_without_server(self: wsgi.Response) -> list[str]:
    return [line for line in _default_headers(self) if not line.lower().startswith("server:")]


if getattr(wsgi.Response.default_headers, "__name__", "") != _default_headers_without_server.__name__:
    wsgi.Response.default_headers = _default_headers_without_server


_ERROR_CODES = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 431: "headers_too_large"}


def write_json_error(sock: object, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error answer in the platform's JSON error shape; ``mesg`` (which may quote the
    request) is never sent."""
    code = _ERROR_CODES.get(status_int, "server_error" if status_int >= 500 else "bad_request")
    body = json.dumps({"error": {"code": code, "message": reason}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Cache-Control: no-store\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


if getattr(util.write_error, "__name__", "") != write_json_error.__name__:
    util.write_error = write_json_error
