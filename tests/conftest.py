"""Shared fixtures: personas, a clean Redis per test, and real Celery processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection

from tests.personas import *  # noqa: F403  (persona fixtures shared by every app's tests)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _empty_audit_trail(request, django_db_blocker) -> None:
    """Every database test starts from an empty audit trail.

    Migrating the test database, and flushing it after a transactional test, syncs the roles,
    which is audited (ROLE_CHANGED); those rows would otherwise appear in every test's trail.
    The test settings let a superuser connection TRUNCATE the otherwise append-only table
    (``fintech.audit_truncate``).
    """
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)
    if not uses_db:
        return
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE compliance_auditevent")
        # A transactional test's flush also empties the processing purposes and retention policies
        # that data migrations seeded; put them back so every test sees the product's vocabulary.
        from compliance.consent.models import ProcessingPurpose
        from compliance.consent.seed import seed_processing_purposes
        from compliance.retention.models import RetentionPolicy
        from compliance.retention.seed import seed_retention_policies

        if not ProcessingPurpose.objects.exists():
            seed_processing_purposes()
        if not RetentionPolicy.objects.exists():
            seed_retention_policies()


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction")) or "transactional_db" in request.fixturenames


@pytest.fixture(autouse=True)
def _empty_append_only_tables(request) -> Iterator[None]:
    """Let Django flush after a transactional test although some tables refuse TRUNCATE.

    Append-only tables (ledger, consent evidence, published notices) refuse TRUNCATE unless empty.
    After a transactional test, and before pytest-django's flush, empty them in a session that
    skips user triggers (``session_replication_role = replica``, superuser-only; the application
    role never has it), then restore the normal role on the same connection.
    """
    if not _is_transactional(request):
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal AND (tgtype & 32) <> 0"
        )
        tables = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET session_replication_role = replica")
        try:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - names come from the catalogue
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    # Each xdist worker has its own Redis database (see fintech/settings/test.py): flushing it
    # keeps throttles and cached state from leaking between tests.
    cache.clear()
    yield


def _test_database_url() -> str:
    settings = connection.settings_dict
    user = quote(settings.get("USER") or "")
    password = f":{quote(settings['PASSWORD'])}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


class CeleryProcess:
    """A real ``celery`` subprocess (worker or beat) pointed at the test database and Redis."""

    def __init__(self, kind: str, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        worker_name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fintech.settings.test",
            "DATABASE_URL": _test_database_url(),
            # The worker writes generated files where this test reads them.
            "DJANGO_MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
            **(extra_env or {}),
        }
        if kind == "worker":
            args = [
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"test-{worker_name}-{os.getpid()}@%h",
            ]
        else:
            args = ["beat", "--loglevel", "INFO", "--schedule", str(log_path.with_suffix(".schedule"))]
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fintech", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def celery_process(django_db_blocker, tmp_path) -> Iterator:
    """Factory: ``celery_process("worker")`` starts a real worker; all are stopped afterwards."""
    started: list[CeleryProcess] = []

    def start(kind: str, **extra_env: str) -> CeleryProcess:
        process = CeleryProcess(kind, tmp_path / f"celery-{kind}-{len(started)}.log", extra_env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def wait_until(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture(autouse=True)
def _private_media_root(settings, tmp_path_factory) -> None:
    # Generated files (DSAR bundles) go to a per-test directory, never into the checkout.
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def openapi_document(django_db_setup, django_db_blocker) -> dict:
    """The document /api/schema/ serves, generated once per session (the fuzz run and the
    response-schema tests read it)."""
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    with django_db_blocker.unblock():
        document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


@pytest.fixture
def read_routing(monkeypatch) -> list[tuple[str, bool]]:
    """Every ORM read's (model label, inside reporting_reads()) as the database router sees it;
    the reads still go to the primary (there is no replica in the tests)."""
    from kernel import db_router

    seen: list[tuple[str, bool]] = []
    original = db_router.ReportReadsRouter.db_for_read

    def spy(self, model, **hints):
        seen.append((model._meta.label, db_router._reporting.get()))
        return original(self, model, **hints)

    monkeypatch.setattr(db_router.ReportReadsRouter, "db_for_read", spy)
    return seen
