"""Issue 15 (low): the ``Server`` header named gunicorn. A real gunicorn, started the way the
Dockerfile starts it, now answers without a ``Server`` header."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _headers(port: int) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return {name.lower(): value for name, value in response.getheaders()}
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _serve(*config: str):
    port = _free_port()
    command = [sys.executable, "-m", "gunicorn", *config, "fintech.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return process, port


def test_gunicorn_with_the_platform_config_sends_no_server_banner():
    plain, plain_port = _serve()
    configured, port = _serve("--config", "python:fintech.gunicorn_conf")
    try:
        # Without the config gunicorn names itself (the test can fail) ...
        assert _headers(plain_port).get("server", "").startswith("gunicorn")
        # ... with it there is no Server header at all.
        headers = _headers(port)
        assert "server" not in headers
        assert "date" in headers and "x-request-id" in headers
    finally:
        for process in (plain, configured):
            process.terminate()
            process.wait(timeout=20)


def test_gunicorn_refuses_an_overlong_request_line_in_the_json_error_shape_without_echoing_it():
    """Found by schemathesis in `make dast-full`: a 4,300-byte query string was refused by gunicorn
    itself (limit_request_line) with an HTML 414 page, a status the API did not document. It is now
    JSON in the error shape, documented, and quotes nothing of the request (gunicorn's messages
    quote it for some refusals, e.g. an invalid request line)."""
    from fintech.openapi import ERROR_STATUSES

    plain, plain_port = _serve()
    configured, port = _serve("--config", "python:fintech.gunicorn_conf")
    needle = "needle-" + "x" * 5000
    try:
        _headers(plain_port), _headers(port)
        for which, answer_port in (("plain", plain_port), ("configured", port)):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{answer_port}/api/v1/me/?q={needle}", timeout=5)
            except urllib.error.HTTPError as refusal:
                status, content_type, body = refusal.code, refusal.headers.get("Content-Type"), refusal.read()
            assert status == 414, which
            if which == "plain":  # without the config: gunicorn's HTML page (the test can fail)
                assert content_type == "text/html" and body.startswith(b"<html>")
        assert content_type == "application/json"
        assert json.loads(body) == {"error": {"code": "uri_too_long", "message": "URI Too Long"}}
        assert b"needle" not in body
        assert "414" in ERROR_STATUSES
    finally:
        for process in (plain, configured):
            process.terminate()
            process.wait(timeout=20)
