"""Issue 15 (low): the ``Server`` header named gunicorn. A real gunicorn, started the way the
Dockerfile starts it, now answers without a ``Server`` header."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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
