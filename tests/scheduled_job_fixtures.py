"""Fixtures for tests of scheduled jobs (retention, secrets, the beat schedule): platform-owned secrets
in a per-test file, never the shared var/ one, and the seeded retention policies present.

Imported by the conftest of each directory whose tests need them."""

from __future__ import annotations

import pytest

from accounts.tokens import reset_signing_key_cache


@pytest.fixture(autouse=True)
def _private_secrets_file(settings, tmp_path):
    settings.SECRETS_PROVIDER = {**settings.SECRETS_PROVIDER, "KIND": "file", "FILE": str(tmp_path / "secrets.json")}
    reset_signing_key_cache()
    yield
    reset_signing_key_cache()


@pytest.fixture(autouse=True)
def seeded_policies(request):
    """Transactional tests (here or elsewhere on this worker) flush every table, the seeded
    policies included: make sure the declared policies have their rows for every database test."""
    if request.node.get_closest_marker("django_db") is None:
        return
    from compliance.retention.seed import seed_retention_policies

    request.getfixturevalue("db")
    seed_retention_policies()
